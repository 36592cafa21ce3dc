using System.Reflection;
using System.Text;
using MultiArch.Build.Tasks.Specs;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class ManifestSpecReaderTests
{
    private const string Text = "spec.yaml";
    private readonly List<string> _tempDirectories = [];

    public TestContext TestContext { get; set; } = null!;

    [TestCleanup]
    public void DeleteTempDirectories()
    {
        foreach (var dir in _tempDirectories)
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string ValidAsset(string name) => Path.Combine(RepoPaths.TestAssets, "specs", "valid", name);

    private static string InvalidAsset(string name) => Path.Combine(RepoPaths.TestAssets, "specs", "invalid", name);

    // ---------------------------------------------------------------------------------------------
    // Valid specs: every file in testassets/specs/valid is read, with its counts.

    [TestMethod]
    [DataRow("manifest-tool-readme.yaml", 3, 2)]
    [DataRow("manifest-tool-all-keys.yaml", 2, 3)]
    [DataRow("windows.yaml", 2, 2)]
    [DataRow("os-dot-aliases.yaml", 0, 2)]
    [DataRow("entry-annotations.yaml", 1, 2)]
    [DataRow("spec.json", 2, 3)]
    [DataRow("minimal.yaml", 0, 1)]
    [DataRow("anchors.yaml", 0, 3)]
    [DataRow("scalar-styles.yaml", 6, 1)]
    [DataRow("null-optionals.yaml", 0, 2)]
    [DataRow("platform-partial.yaml", 0, 2)]
    [DataRow("flow-document.yaml", 2, 2)]
    [DataRow("docker-hub-names.yaml", 0, 2)]
    public void ValidSpec_Reads(string file, int tags, int manifests)
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset(file));

        Assert.HasCount(tags, spec.Tags);
        Assert.HasCount(tags, spec.TagLocations);
        Assert.HasCount(manifests, spec.Manifests);
        Assert.AreEqual(ValidAsset(file), spec.Location.File);
    }

    [TestMethod]
    public void ManifestToolReadmeExample_ReadsAsManifestToolDoes()
    {
        var path = ValidAsset("manifest-tool-readme.yaml");
        var spec = ManifestSpecReader.ReadFile(path);

        Assert.AreEqual("myprivreg:5000/someimage:latest", spec.Image);
        Assert.AreEqual(new SpecLocation(path, 1, 8), spec.Location);
        CollectionAssert.AreEqual(new[] { "1.0.0", "1.0", "1" }, spec.Tags.ToArray());
        CollectionAssert.AreEqual(
            new[] { new SpecLocation(path, 2, 8), new SpecLocation(path, 2, 17), new SpecLocation(path, 2, 24) },
            spec.TagLocations.ToArray());
        Assert.IsNull(spec.Format);
        Assert.IsEmpty(spec.Annotations);

        var arm = spec.Manifests[0];
        Assert.AreEqual("myprivreg:5000/someimage:arm64", arm.Image);
        Assert.AreEqual(new SpecLocation(path, 5, 12), arm.Location);
        Assert.IsNotNull(arm.Platform);
        Assert.AreEqual("linux", arm.Platform.Os);
        Assert.AreEqual("arm64", arm.Platform.Architecture);
        Assert.IsNull(arm.Platform.Variant);
        Assert.IsNull(arm.Platform.OsVersion);
        Assert.IsEmpty(arm.Platform.OsFeatures);
        Assert.IsEmpty(arm.Platform.Features);
        Assert.AreEqual(new SpecLocation(path, 7, 7), arm.Platform.Location);

        Assert.AreEqual("myprivreg:5000/someimage:amd64", spec.Manifests[1].Image);
        Assert.AreEqual("amd64", spec.Manifests[1].Platform?.Architecture);
    }

    [TestMethod]
    public void ManifestToolKeys_AllRead()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("manifest-tool-all-keys.yaml"));

        Assert.AreEqual("My Title", spec.Annotations["org.opencontainers.image.title"]);
        Assert.AreEqual("v7", spec.Manifests[1].Platform?.Variant);
        var windows = spec.Manifests[2].Platform;
        Assert.IsNotNull(windows);
        Assert.AreEqual("windows", windows.Os);
        Assert.AreEqual("10.0.17763.2300", windows.OsVersion);
        CollectionAssert.AreEqual(new[] { "win32k" }, windows.OsFeatures.ToArray());
    }

    [TestMethod]
    public void Windows_OsVersionAndFeatures()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("windows.yaml"));

        CollectionAssert.AreEqual(new[] { "ltsc2019", "ltsc2022" }, spec.Tags.ToArray());
        Assert.AreEqual("10.0.17763.2300", spec.Manifests[0].Platform?.OsVersion);
        Assert.AreEqual("10.0.20348.2113", spec.Manifests[1].Platform?.OsVersion);
        foreach (var entry in spec.Manifests)
        {
            CollectionAssert.AreEqual(new[] { "win32k" }, entry.Platform?.OsFeatures.ToArray());
        }
    }

    [TestMethod]
    public void OciSpellings_AreAliasesOfManifestToolKeys()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("os-dot-aliases.yaml"));

        Assert.AreEqual("10.0.17763.2300", spec.Manifests[0].Platform?.OsVersion);
        CollectionAssert.AreEqual(new[] { "win32k" }, spec.Manifests[0].Platform?.OsFeatures.ToArray());
        Assert.AreEqual("10.0.20348.2113", spec.Manifests[1].Platform?.OsVersion);
        CollectionAssert.AreEqual(new[] { "win32k" }, spec.Manifests[1].Platform?.OsFeatures.ToArray());
    }

    [TestMethod]
    public void Extensions_EntryAnnotationsFormatAndFeatures()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("entry-annotations.yaml"));

        Assert.AreEqual(ManifestSpec.FormatOci, spec.Format);
        CollectionAssert.AreEqual(
            new[] { "org.opencontainers.image.created", "org.opencontainers.image.revision", "org.opencontainers.image.source" },
            spec.Annotations.Keys.ToArray(),
            "index annotations are sorted by key");
        Assert.AreEqual("2026-11-27T12:00:00Z", spec.Annotations["org.opencontainers.image.created"]);

        var amd64 = spec.Manifests[0];
        Assert.AreEqual("42", amd64.Annotations["com.example.build.number"], "a number is kept as its text");
        Assert.AreEqual("127.0.0.1:5000/base:1", amd64.Annotations["org.opencontainers.image.base.name"]);
        Assert.AreEqual("v3", amd64.Platform?.Variant);
        CollectionAssert.AreEqual(new[] { "sse4", "avx2" }, amd64.Platform?.Features.ToArray());

        var byDigest = spec.Manifests[1];
        Assert.StartsWith("127.0.0.1:5000/app@sha256:", byDigest.Image);
        Assert.IsNull(byDigest.Platform);
        Assert.AreEqual(string.Empty, byDigest.Annotations["com.example.note"]);
    }

    [TestMethod]
    public void Json_IsYaml()
    {
        var path = ValidAsset("spec.json");
        var spec = ManifestSpecReader.ReadFile(path);

        Assert.AreEqual("127.0.0.1:5000/app:1.0", spec.Image);
        Assert.AreEqual(new SpecLocation(path, 2, 12), spec.Location);
        Assert.AreEqual(ManifestSpec.FormatDocker, spec.Format);
        Assert.AreEqual("v8", spec.Manifests[1].Platform?.Variant);
        Assert.AreEqual("10.0.20348.2113", spec.Manifests[2].Platform?.OsVersion);
        CollectionAssert.AreEqual(new[] { "win32k" }, spec.Manifests[2].Platform?.OsFeatures.ToArray());
    }

    [TestMethod]
    public void AnchorsAndAliases_ShareValues()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("anchors.yaml"));

        CollectionAssert.AreEqual(spec.Manifests[0].Annotations.ToArray(), spec.Manifests[1].Annotations.ToArray());
        Assert.AreEqual("1", spec.Manifests[1].Annotations["com.example.tier"]);
        Assert.AreEqual("linux", spec.Manifests[2].Platform?.Os);
        Assert.AreEqual("s390x", spec.Manifests[2].Platform?.Architecture);
    }

    [TestMethod]
    public void Scalars_KeepTheirText()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("scalar-styles.yaml"));

        CollectionAssert.AreEqual(new[] { "1.0", "2", "3", "04", "true", "1e3" }, spec.Tags.ToArray());
        Assert.AreEqual("127.0.0.1:5000/app:1.0", spec.Image);
        Assert.AreEqual("1.50", spec.Annotations["com.example.number"]);
        Assert.AreEqual("false", spec.Annotations["com.example.bool"]);
        Assert.AreEqual("line one\nline two\n", spec.Annotations["com.example.multiline"]);
        Assert.AreEqual("folded text", spec.Annotations["com.example.folded"]);
        Assert.AreEqual("7", spec.Annotations["com.example.tagged"]);
        CollectionAssert.AreEqual(new[] { "a" }, spec.Manifests[0].Platform?.OsFeatures.ToArray());
    }

    [TestMethod]
    public void NullOptionalValues_AreAbsent()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("null-optionals.yaml"));

        Assert.IsEmpty(spec.Tags);
        Assert.IsEmpty(spec.Annotations);
        Assert.IsNull(spec.Format);
        Assert.IsNull(spec.Manifests[0].Platform);
        Assert.IsEmpty(spec.Manifests[0].Annotations);
        Assert.IsNull(spec.Manifests[1].Platform, "an empty platform mapping says nothing");
    }

    [TestMethod]
    public void Platform_WithoutOsAndArchitecture_KeepsOtherFields()
    {
        var spec = ManifestSpecReader.ReadFile(ValidAsset("platform-partial.yaml"));

        var arm = spec.Manifests[0].Platform;
        Assert.IsNotNull(arm);
        Assert.IsNull(arm.Os);
        Assert.IsNull(arm.Architecture);
        Assert.AreEqual("v6", arm.Variant);
        Assert.AreEqual("10.0.17763.2300", spec.Manifests[1].Platform?.OsVersion);
    }

    [TestMethod]
    public void FlowStyle_LocationsPointIntoTheLine()
    {
        var path = ValidAsset("flow-document.yaml");
        var spec = ManifestSpecReader.ReadFile(path);

        Assert.AreEqual(new SpecLocation(path, 1, 9), spec.Location);
        Assert.AreEqual(new SpecLocation(path, 1, 67), spec.Manifests[0].Location);
        Assert.AreEqual("ppc64le", spec.Manifests[0].Platform?.Architecture);
    }

    [TestMethod]
    public void Every_valid_asset_has_a_row() => AssertEveryAssetHasARow(nameof(ValidSpec_Reads), "valid");

    // ---------------------------------------------------------------------------------------------
    // Invalid specs: file, expected code, line, column and a part of the message.

    [TestMethod]
    [DataRow("empty.yaml", "MULTIARCH3005", 1, 1, "'image' (the image reference the index is pushed to) is required")]
    [DataRow("comments-only.yaml", "MULTIARCH3005", 1, 1, "'image'")]
    [DataRow("missing-image.yaml", "MULTIARCH3005", 2, 1, "'image'")]
    [DataRow("image-empty.yaml", "MULTIARCH3005", 1, 8, "'image'")]
    [DataRow("image-sequence.yaml", "MULTIARCH3004", 1, 8, "'image' must be a string, not a sequence")]
    [DataRow("image-capitalised.yaml", "MULTIARCH3003", 2, 1, "unknown key 'Image' in the top-level mapping. Known keys: image, tags, manifests, annotations, format (keys are case-sensitive: did you mean 'image'?)")]
    [DataRow("unknown-top-key.yaml", "MULTIARCH3003", 4, 1, "unknown key 'platforms' in the top-level mapping")]
    [DataRow("unknown-entry-key.yaml", "MULTIARCH3003", 5, 5, "unknown key 'tags' in manifests[1]. Known keys: image, platform, annotations.")]
    [DataRow("unknown-platform-key.yaml", "MULTIARCH3003", 7, 7, "unknown key 'arch' in manifests[1].platform. Known keys: architecture, os, variant, osversion, os.version, osfeatures, os.features, features.")]
    [DataRow("merge-key.yaml", "MULTIARCH3003", 8, 7, "unknown key '<<'")]
    [DataRow("json-unknown-key.json", "MULTIARCH3003", 4, 44, "unknown key 'Platform' in manifests[0]")]
    [DataRow("tags-scalar.yaml", "MULTIARCH3004", 2, 7, "'tags' must be a sequence of tags, for example [\"1.0\", \"latest\"], not the value '5'")]
    [DataRow("tags-comma-string.yaml", "MULTIARCH3004", 3, 7, "not the value '1.0,1'")]
    [DataRow("tags-nested.yaml", "MULTIARCH3004", 4, 5, "'tags[1]' must be a string, not a mapping")]
    [DataRow("tag-null.yaml", "MULTIARCH3004", 4, 4, "'tags[1]' must be a string, not null")]
    [DataRow("manifests-mapping.yaml", "MULTIARCH3004", 2, 12, "'manifests' must be a sequence")]
    [DataRow("json-number-for-manifests.json", "MULTIARCH3004", 1, 51, "'manifests' must be a sequence")]
    [DataRow("manifests-strings.yaml", "MULTIARCH3004", 3, 5, "'manifests[0]' must be a mapping with 'image' and optionally 'platform' and 'annotations', not the value '127.0.0.1:5000/app:amd64'")]
    [DataRow("manifest-entry-null.yaml", "MULTIARCH3004", 4, 4, "'manifests[1]' must be a mapping")]
    [DataRow("manifests-empty.yaml", "MULTIARCH3005", 2, 12, "at least one entry in 'manifests' is required")]
    [DataRow("manifests-null.yaml", "MULTIARCH3005", 2, 11, "at least one entry in 'manifests' is required")]
    [DataRow("manifests-missing.yaml", "MULTIARCH3005", 1, 1, "'manifests' (the list of source images) is required")]
    [DataRow("entry-image-missing.yaml", "MULTIARCH3005", 4, 5, "'manifests[1].image' (the source image reference) is required")]
    [DataRow("annotation-value-mapping.yaml", "MULTIARCH3004", 3, 35, "'annotations[\"org.opencontainers.image.title\"]' must be a string")]
    [DataRow("annotation-value-null.yaml", "MULTIARCH3004", 5, 25, "'manifests[0].annotations[\"com.example.empty\"]' must be a string (write \"\" for an empty value), not null")]
    [DataRow("annotations-sequence.yaml", "MULTIARCH3004", 3, 3, "'annotations' must be a mapping")]
    [DataRow("annotation-duplicate.yaml", "MULTIARCH3007", 5, 3, "the annotation 'com.example.a' appears twice in annotations (first at line 3, column 3)")]
    [DataRow("annotation-key-empty.yaml", "MULTIARCH3007", 3, 3, "annotations has an empty key")]
    [DataRow("platform-string.yaml", "MULTIARCH3004", 4, 15, "'manifests[0].platform' must be a mapping such as {os: linux, architecture: arm64}, not the value 'linux/amd64'")]
    [DataRow("platform-os-only.yaml", "MULTIARCH3007", 5, 7, "manifests[0].platform gives 'os' but not 'architecture'")]
    [DataRow("platform-architecture-only.yaml", "MULTIARCH3007", 4, 15, "manifests[0].platform gives 'architecture' but not 'os'")]
    [DataRow("platform-uppercase.yaml", "MULTIARCH3007", 5, 11, "manifests[0].platform.os: 'Linux' is not a valid os")]
    [DataRow("osversion-both-spellings.yaml", "MULTIARCH3007", 8, 7, "'os.version' and 'osversion' (at line 7, column 7) are two spellings of the same key in manifests[0].platform")]
    [DataRow("osfeatures-both-spellings.yaml", "MULTIARCH3007", 8, 7, "'osfeatures' and 'os.features' (at line 5, column 7)")]
    [DataRow("osfeatures-scalar.yaml", "MULTIARCH3004", 7, 19, "'manifests[0].platform.osfeatures' must be a sequence of strings")]
    [DataRow("features-empty-item.yaml", "MULTIARCH3007", 7, 24, "manifests[0].platform.features[1] is empty")]
    [DataRow("duplicate-top-key.yaml", "MULTIARCH3007", 4, 1, "the key 'image' appears twice in the top-level mapping (first at line 1, column 1)")]
    [DataRow("duplicate-platform-key.yaml", "MULTIARCH3007", 4, 48, "the key 'os' appears twice in manifests[0].platform")]
    [DataRow("complex-key.yaml", "MULTIARCH3004", 4, 7, "must be a string, not a sequence")]
    [DataRow("format-unknown.yaml", "MULTIARCH3007", 2, 9, "'format' is 'v2s2', which is not known; use oci (an OCI image index) or docker (a Docker manifest list)")]
    [DataRow("format-uppercase.yaml", "MULTIARCH3007", 2, 9, "'format' is 'OCI'")]
    [DataRow("target-reference-invalid.yaml", "MULTIARCH3007", 2, 8, "image: 'REGISTRY/REPO:TAG' is not a valid image reference")]
    [DataRow("source-reference-invalid.yaml", "MULTIARCH3007", 4, 12, "manifests[1].image: '127.0.0.1:5000/app@sha256:123' is not a valid image reference")]
    [DataRow("tag-invalid.yaml", "MULTIARCH3007", 2, 15, "tags[1]: '-rc1' is not a valid tag")]
    [DataRow("tag-empty.yaml", "MULTIARCH3007", 3, 5, "tags[0]: '' is not a valid tag")]
    [DataRow("syntax-unclosed-flow.yaml", "MULTIARCH3002", 2, 13, "the manifest spec is not valid YAML")]
    [DataRow("syntax-yamldotnet-541.yaml", "MULTIARCH3002", 3, 11, "check for an unclosed '['")]
    [DataRow("syntax-nested-mapping-on-one-line.yaml", "MULTIARCH3002", 4, 17, "not valid YAML")]
    [DataRow("syntax-tab-indent.yaml", "MULTIARCH3002", 1, 1, "tab")]
    [DataRow("syntax-unterminated-quote.yaml", "MULTIARCH3002", 1, 8, "not valid YAML")]
    [DataRow("syntax-bad-indent.yaml", "MULTIARCH3002", 4, 4, "not valid YAML")]
    [DataRow("json-missing-brace.json", "MULTIARCH3002", 6, 1, "flow mapping")]
    [DataRow("two-documents.yaml", "MULTIARCH3007", 4, 1, "a second YAML document starts here")]
    [DataRow("tag-python-object.yaml", "MULTIARCH3007", 3, 12, "the tag '!!python/object/apply:os.system' is not allowed")]
    [DataRow("tag-dotnet-type.yaml", "MULTIARCH3007", 2, 14, "the tag '!System.Diagnostics.Process' is not allowed")]
    [DataRow("tag-local.yaml", "MULTIARCH3007", 1, 8, "the tag '!foo' is not allowed")]
    [DataRow("tag-directive-redefines-core.yaml", "MULTIARCH3007", 3, 8, "the tag 'tag:example.com,2026:str' is not allowed")]
    [DataRow("tag-value-mismatch.yaml", "MULTIARCH3007", 2, 8, "'latest' is not a valid !!int value")]
    [DataRow("tag-kind-mismatch.yaml", "MULTIARCH3007", 2, 12, "the tag '!!map' does not fit a sequence")]
    [DataRow("alias-undefined.yaml", "MULTIARCH3002", 4, 18, "the alias '*common' refers to no anchor defined before it")]
    [DataRow("alias-recursive.yaml", "MULTIARCH3002", 4, 5, "the alias '*loop' refers to a node that contains it")]
    [DataRow("alias-bomb.yaml", "MULTIARCH3006", 6, 55, "the document has more than 100000 nodes")]
    [DataRow("too-deep.yaml", "MULTIARCH3006", 2, 45, "nest more than 32 levels")]
    [DataRow("root-sequence.yaml", "MULTIARCH3004", 1, 1, "'document' must be a mapping with the keys image, manifests")]
    [DataRow("root-scalar.yaml", "MULTIARCH3004", 1, 1, "not the value '127.0.0.1:5000/app:1.0'")]
    public void InvalidSpec_FailsWithCodeAndLocation(string file, string code, int line, int column, string message)
    {
        var path = InvalidAsset(file);

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(path));

        Assert.AreEqual(code, ex.Code, ex.Message);
        Assert.StartsWith($"{path}({line},{column}): ", ex.Message);
        Assert.Contains(message, ex.Message);
    }

    [TestMethod]
    public void Every_invalid_asset_has_a_row() => AssertEveryAssetHasARow(nameof(InvalidSpec_FailsWithCodeAndLocation), "invalid");

    // ---------------------------------------------------------------------------------------------
    // The same rules on text, for the cases files cannot show well.

    [TestMethod]
    [DataRow("image: ~\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3005", 1, 8)]
    [DataRow("image: !!null ''\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3005", 1, 8)]
    [DataRow("---\n", "MULTIARCH3005", 1, 1)]
    [DataRow("~\n", "MULTIARCH3005", 1, 1)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1, platform: {os: linux, architecture: amd64, variant: [v7]}}]\n", "MULTIARCH3004", 2, 80)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1, platform: {os.version: {a: 1}}}]\n", "MULTIARCH3004", 2, 51)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1, annotations: [a]}]\n", "MULTIARCH3004", 2, 41)]
    [DataRow("image: a/b:1\nformat: [oci]\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3004", 2, 9)]
    [DataRow("image: a/b:1\nformat: !!str docker2\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3007", 2, 9)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1, image: a/b:2}]\n", "MULTIARCH3007", 2, 28)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1, platform: {os: linux, architecture: 'amd 64'}}]\n", "MULTIARCH3007", 2, 64)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1, platform: {os: linux, architecture: amd64, variant: V8}}]\n", "MULTIARCH3007", 2, 80)]
    [DataRow("image: a/b:1\ntags: [!!bool yes]\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3007", 2, 8)]
    [DataRow("image: a/b:1\ntags: [!!float 1.0.0]\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3007", 2, 8)]
    [DataRow("image: a/b:1\ntags: !!str [a]\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3007", 2, 7)]
    [DataRow("image: a/b:1\ntags: ! [a]\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3007", 2, 7)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1}]\n...\n---\nimage: c/d:1\n", "MULTIARCH3007", 4, 1)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1}]\n? image\n", "MULTIARCH3007", 3, 3)]
    [DataRow("image: a/b:1\nannotations: {a: 1, ? b}\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3004", 2, 24)]
    [DataRow("image: a/b:1\nannotations: {!!null '': x}\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3007", 2, 15)]
    [DataRow("image: a/b:1\nannotations: {[k]: x}\nmanifests: [{image: a/b:1}]\n", "MULTIARCH3004", 2, 15)]
    [DataRow("image: a/b:1\nmanifests:\n  - &e {image: a/b:1}\n  - *e\ntags: [*e]\n", "MULTIARCH3004", 3, 5)]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1}]\r\nformat: x\r\n", "MULTIARCH3007", 3, 9)]
    public void InvalidText_FailsWithCodeAndLocation(string yaml, string code, int line, int column)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(yaml, Text));

        Assert.AreEqual(code, ex.Code, ex.Message);
        Assert.StartsWith($"{Text}({line},{column}): ", ex.Message);
    }

    [TestMethod]
    public void SameEntryTwiceThroughAnAlias_IsFine()
    {
        var spec = ManifestSpecReader.ReadText("image: a/b:1\nmanifests:\n  - &e {image: a/b:1}\n  - *e\n", Text);

        Assert.HasCount(2, spec.Manifests);
        Assert.AreEqual(spec.Manifests[0].Image, spec.Manifests[1].Image);
        Assert.AreEqual(spec.Manifests[0].Location, spec.Manifests[1].Location, "an alias cites its anchor's node");
    }

    [TestMethod]
    public void LeadingByteOrderMark_IsIgnored()
    {
        var spec = ManifestSpecReader.ReadText("\uFEFFimage: a/b:1\nmanifests: [{image: a/b:1}]\n", Text);

        Assert.AreEqual("a/b:1", spec.Image);
        Assert.AreEqual(new SpecLocation(Text, 1, 8), spec.Location);
    }

    [TestMethod]
    [DataRow("image: a/b:1\nmanifests: [{image: a/b:1}]\nx: \u0001\n", 3, 4, "U+0001")]
    [DataRow("image: a/b:1\r\nmanifests: [{image: a/b:1}]\r\nx: ab\0\n", 3, 6, "U+0000")]
    [DataRow("image: a/b:1\nannotations: {k: \"\u007F\"}\n", 2, 19, "U+007F")]
    [DataRow("image: a/b:1\nannotations: {k: \uFFFE}\n", 2, 18, "U+FFFE")]
    public void ForbiddenCharacters_AreSyntaxErrors(string yaml, int line, int column, string character)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(yaml, Text));

        Assert.AreEqual("MULTIARCH3002", ex.Code, ex.Message);
        Assert.StartsWith($"{Text}({line},{column}): ", ex.Message);
        Assert.Contains(character, ex.Message);
    }

    [TestMethod]
    public void LoneSurrogate_IsASyntaxError()
    {
        // Not a [DataRow]: a lone surrogate does not survive test-data serialization.
        var yaml = "image: a/b:1\nannotations: {k: \"" + '\uD800' + "\"}\n";

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(yaml, Text));

        Assert.AreEqual("MULTIARCH3002", ex.Code, ex.Message);
        Assert.StartsWith($"{Text}(2,19): ", ex.Message);
        Assert.Contains("U+D800", ex.Message);
    }

    [TestMethod]
    public void EscapedControlCharacters_AndEmoji_AreFine()
    {
        var spec = ManifestSpecReader.ReadText("image: a/b:1\nannotations: {k: \"tab\\there \\x01\", e: \"\U0001F680\"}\nmanifests: [{image: a/b:1}]\n", Text);

        Assert.AreEqual("tab\there \u0001", spec.Annotations["k"]);
        Assert.AreEqual("\U0001F680", spec.Annotations["e"]);
    }

    [TestMethod]
    public void UnknownKey_IsShownSafely()
    {
        // The YAML escape \u0007 puts a BEL character into the key.
        var yaml = "\"x\\u0007" + new string('k', 500) + "\": 1\n";
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(yaml, Text));

        Assert.AreEqual("MULTIARCH3003", ex.Code, ex.Message);
        Assert.Contains("'x\\u0007kkk", ex.Message);
        Assert.Contains("…'", ex.Message);
        Assert.IsLessThan(400, ex.Message.Length);
    }

    // ---------------------------------------------------------------------------------------------
    // Limits.

    [TestMethod]
    public void Depth_UpToTheLimit_IsRead_AndOneMoreIsNot()
    {
        // annotations: [[[...]]] — the top-level mapping is level 1.
        static string Nested(int levels) =>
            "image: a/b:1\nmanifests: [{image: a/b:1}]\nannotations: " + new string('[', levels - 1) + new string(']', levels - 1) + "\n";

        var atLimit = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(Nested(ManifestSpecReader.MaxDepth), Text));
        Assert.AreEqual("MULTIARCH3004", atLimit.Code, "read fully, then rejected for its type");

        var over = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(Nested(ManifestSpecReader.MaxDepth + 1), Text));
        Assert.AreEqual("MULTIARCH3006", over.Code);
        Assert.StartsWith($"{Text}(3,45): ", over.Message);
    }

    [TestMethod]
    public void VeryDeepNesting_StopsAtTheLimit()
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(new string('[', 500_000), Text));

        Assert.AreEqual("MULTIARCH3006", ex.Code);
    }

    [TestMethod]
    public void NodeBudget_CountsPlainNodesToo()
    {
        var yaml = "image: a/b:1\nmanifests: [{image: a/b:1}]\ntags: [" + string.Join(",", Enumerable.Repeat("a", ManifestSpecReader.MaxNodes)) + "]\n";

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(yaml, Text));

        Assert.AreEqual("MULTIARCH3006", ex.Code);
    }

    [TestMethod]
    public void Text_OverOneMebibyte_IsRejected_AndAtTheLimit_IsRead()
    {
        const string Body = "image: a/b:1\nmanifests: [{image: a/b:1}]\n";
        var atLimit = Body + "#" + new string('x', ManifestSpecReader.MaxFileBytes - Body.Length - 2) + "\n";
        Assert.AreEqual(ManifestSpecReader.MaxFileBytes, Encoding.UTF8.GetByteCount(atLimit));
        Assert.AreEqual("a/b:1", ManifestSpecReader.ReadText(atLimit, Text).Image);

        var over = atLimit + "\n";
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(over, Text));
        Assert.AreEqual("MULTIARCH3006", ex.Code);
        Assert.StartsWith($"{Text}: ", ex.Message);

        var multiByte = Body + "#" + new string('é', ManifestSpecReader.MaxFileBytes / 2) + "\n";
        Assert.AreEqual("MULTIARCH3006", Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(multiByte, Text)).Code, "the limit is in UTF-8 bytes");
    }

    [TestMethod]
    public void File_OverOneMebibyte_IsRejectedBeforeParsing()
    {
        var path = TempFile("big.yaml");
        File.WriteAllText(path, "image: [\n" + new string(' ', ManifestSpecReader.MaxFileBytes));

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(path));

        Assert.AreEqual("MULTIARCH3006", ex.Code);
        Assert.StartsWith($"{path}: ", ex.Message);
        Assert.Contains("1048576", ex.Message);
    }

    [TestMethod]
    public void AliasBomb_IsStoppedQuickly()
    {
        var yaml = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < 30; i++)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"a{i}: &a{i} [")
                .AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText(yaml.ToString(), Text));

        Assert.AreEqual("MULTIARCH3006", ex.Code);
        Assert.IsLessThan(30, clock.Elapsed.TotalSeconds, "refused by the node budget, not expanded (10^30 nodes would never finish)");
    }

    // ---------------------------------------------------------------------------------------------
    // Files: missing, unreadable, encodings.

    [TestMethod]
    public void MissingFile_Is3001()
    {
        var path = Path.Combine(TempDirectory(), "nope.yaml");

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(path));

        Assert.AreEqual("MULTIARCH3001", ex.Code);
        Assert.Contains(path, ex.Message);
    }

    [TestMethod]
    public void Directory_Is3001()
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(TempDirectory()));

        Assert.AreEqual("MULTIARCH3001", ex.Code);
    }

    [TestMethod]
    public void EmptyPath_Is3001() =>
        Assert.AreEqual("MULTIARCH3001", Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(string.Empty)).Code);

    [TestMethod]
    public void UnreadableFile_Is3008()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Inconclusive("Uses /proc/self/mem, which exists but fails to read at offset 0, on Linux only.");
        }

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile("/proc/self/mem"));

        Assert.AreEqual("MULTIARCH3008", ex.Code);
        Assert.StartsWith("The manifest spec '/proc/self/mem' could not be read: ", ex.Message);
    }

    [TestMethod]
    [DataRow("utf-8")]
    [DataRow("utf-8-bom")]
    [DataRow("utf-16le-bom")]
    [DataRow("utf-16be-bom")]
    public void Encodings_AreRead(string encoding)
    {
        const string Yaml = "image: 127.0.0.1:5000/app:1.0\r\nannotations: {title: \"Café ☕\"}\r\nmanifests:\r\n  - image: 127.0.0.1:5000/app:amd64\r\n";
        Encoding writer = encoding switch
        {
            "utf-8" => new UTF8Encoding(false),
            "utf-8-bom" => new UTF8Encoding(true),
            "utf-16le-bom" => new UnicodeEncoding(false, true),
            _ => new UnicodeEncoding(true, true),
        };
        var path = TempFile(encoding + ".yaml");
        File.WriteAllText(path, Yaml, writer);

        var spec = ManifestSpecReader.ReadFile(path);

        Assert.AreEqual("Café ☕", spec.Annotations["title"]);
        Assert.AreEqual(new SpecLocation(path, 1, 8), spec.Location);
        Assert.AreEqual(new SpecLocation(path, 4, 12), spec.Manifests[0].Location);
    }

    [TestMethod]
    public void InvalidUtf8_IsASyntaxErrorAtTheByte()
    {
        var path = TempFile("latin1.yaml");
        File.WriteAllBytes(path, [.. "image: a/b:1\nannotations: {k: caf"u8, 0xE9, .. "}\n"u8]);

        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(path));

        Assert.AreEqual("MULTIARCH3002", ex.Code);
        Assert.StartsWith($"{path}(2,21): ", ex.Message);
        Assert.Contains("not valid UTF-8 (byte 0xE9 at offset 33)", ex.Message);
    }

    // ---------------------------------------------------------------------------------------------
    // Model and messages.

    [TestMethod]
    public void SpecLocation_PrintsCompilerStyle() =>
        Assert.AreEqual("dir/spec.yaml(12,3)", new SpecLocation("dir/spec.yaml", 12, 3).ToString());

    [TestMethod]
    public void ReadText_CitesTheGivenFileName()
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadText("tags: []\n", "C:\\src\\app\\manifest.yaml"));

        Assert.AreEqual("MULTIARCH3005", ex.Code);
        Assert.StartsWith("C:\\src\\app\\manifest.yaml(1,1): ", ex.Message);
    }

    [TestMethod]
    [DataRow(MessageId.SpecNotFound, "MULTIARCH3001")]
    [DataRow(MessageId.SpecSyntax, "MULTIARCH3002")]
    [DataRow(MessageId.SpecUnknownKey, "MULTIARCH3003")]
    [DataRow(MessageId.SpecWrongType, "MULTIARCH3004")]
    [DataRow(MessageId.SpecMissingKey, "MULTIARCH3005")]
    [DataRow(MessageId.SpecTooLarge, "MULTIARCH3006")]
    [DataRow(MessageId.SpecInvalidValue, "MULTIARCH3007")]
    [DataRow(MessageId.SpecUnreadable, "MULTIARCH3008")]
    public void SpecMessages_HaveTheirCodes(string id, string code) =>
        Assert.AreEqual(code, Messages.Format(id, "a", "b", "c", "d", "e", "f").Code);

    /// <summary>
    /// YamlDotNet 16.3 rejects an anchor on a value inside a flow mapping (aaubry/YamlDotNet#949); docs/manifest-spec.md
    /// says so. When this starts failing, YamlDotNet fixed it: drop the note from the docs and this test.
    /// </summary>
    [TestMethod]
    public void KnownYamlDotNetLimitation_AnchorOnAFlowMappingValue()
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() =>
            ManifestSpecReader.ReadText("image: a/b:1\nmanifests: [{image: &i a/b:1, platform: {os: linux, architecture: amd64}}]\n", Text));

        Assert.AreEqual("MULTIARCH3002", ex.Code);
    }

    private void AssertEveryAssetHasARow(string method, string folder)
    {
        var rows = typeof(ManifestSpecReaderTests).GetMethod(method)!
            .GetCustomAttributes<DataRowAttribute>()
            .Select(row => (string)row.Data[0]!)
            .ToHashSet(StringComparer.Ordinal);
        var files = Directory.GetFiles(Path.Combine(RepoPaths.TestAssets, "specs", folder)).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);

        CollectionAssert.AreEquivalent(files.Order().ToArray(), rows.Order().ToArray(), $"testassets/specs/{folder} and the rows of {method} differ");
    }

    private string TempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "multiarch-specs", TestContext.TestName + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        _tempDirectories.Add(dir);
        return dir;
    }

    private string TempFile(string name) => Path.Combine(TempDirectory(), name);
}
