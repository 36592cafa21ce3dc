using System.Collections.Immutable;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>
/// The index bytes are manifest-tool's, byte for byte: the digests below are the ones manifest-tool 2.2 printed for
/// the same three entries (shared/notes/manifest-tool.md §6.2), so the same input gives the same digest in both tools.
/// </summary>
[TestClass]
public sealed class IndexSerializationTests
{
    private static readonly Descriptor[] s_entries =
    [
        Entry("sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9", "linux/amd64"),
        Entry("sha256:f77bf152a0c0f4cf049a1d42941f42c5b2d1ae05a7a978e4d4e56c4b8104a399", "linux/arm64/v8"),
        Entry("sha256:3009379c695ce8db3fa913e09fbeff1632164fc0eef48eb3cbb53f096a55e768", "linux/arm/v7"),
    ];

    [TestMethod]
    public void DockerListMatchesManifestTool()
    {
        var index = ImageIndex.Create(MediaTypes.DockerManifestList, s_entries);
        Assert.AreEqual("sha256:891dbcdd6be595575aadccc87b7a703322e98369f2eaa244659af7fe3fffe864", index.Digest.ToString());
        Assert.AreEqual(982, index.Size);
    }

    [TestMethod]
    public void OciIndexMatchesManifestTool()
    {
        var index = ImageIndex.Create(MediaTypes.OciIndex, s_entries);
        Assert.AreEqual("sha256:4bbe739975855956cbf258b57d66914680a552577cc6e6ebb72630e007e0c2c1", index.Digest.ToString());
        Assert.AreEqual(964, index.Size);
        Assert.IsFalse(index.Raw.Span.EndsWith("\n"u8), "no trailing newline, as Go's MarshalIndent");
    }

    [TestMethod]
    public void AnnotationsAreSortedAndEscapedAsGoDoes()
    {
        var annotations = new Dictionary<string, string>
        {
            ["org.opencontainers.image.title"] = "My Image Title",
            ["org.opencontainers.image.source"] = "https://example.com/a?b=1&c=<x>",
        };
        var index = ImageIndex.Create(MediaTypes.OciIndex, s_entries[..2], annotations);
        var text = System.Text.Encoding.UTF8.GetString(index.Raw.Span);
        StringAssert.EndsWith(text, "  \"annotations\": {\n    \"org.opencontainers.image.source\": \"https://example.com/a?b=1\\u0026c=\\u003cx\\u003e\",\n    \"org.opencontainers.image.title\": \"My Image Title\"\n  }\n}");
        StringAssert.StartsWith(index.Digest.ToString(), "sha256:7e888b02");
        Assert.AreEqual(838, index.Size);
    }

    [TestMethod]
    public void WindowsPlatformFieldsInManifestToolOrder()
    {
        var windows = new Descriptor(MediaTypes.OciManifest, Digest.Parse("sha256:25cb5867501a05332e16bf86e67ec389a7d54de778b79289ef8f3bb9acaa18c3"), 401)
        {
            Platform = new Platform("windows", "amd64", osVersion: "10.0.99999.1", osFeatures: ["lowercased"]),
        };
        var text = System.Text.Encoding.UTF8.GetString(ImageIndex.Create(MediaTypes.OciIndex, [s_entries[0], windows]).Raw.Span);
        StringAssert.Contains(text, "\"platform\": {\n        \"architecture\": \"amd64\",\n        \"os\": \"windows\",\n        \"os.version\": \"10.0.99999.1\",\n        \"os.features\": [\n          \"lowercased\"\n        ]\n      }");
    }

    [TestMethod]
    public void ParsedIndexKeepsItsBytesAndRoundTrips()
    {
        var created = ImageIndex.Create(MediaTypes.OciIndex, s_entries);
        var parsed = (ImageIndex)ManifestContent.Parse(created.Raw, MediaTypes.OciIndex, "test");
        Assert.AreEqual(created.Digest, parsed.Digest);
        CollectionAssert.AreEqual(s_entries.Select(e => e.Platform).ToList(), parsed.Manifests.Select(e => e.Platform).ToList());
        Assert.AreEqual(created.Digest, ImageIndex.Create(parsed.MediaType, parsed.Manifests).Digest, "deterministic");
    }

    [TestMethod]
    public void ContentTypeThatContradictsTheBodyIsRejected()
    {
        var created = ImageIndex.Create(MediaTypes.OciIndex, s_entries);
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestContent.Parse(created.Raw, MediaTypes.DockerManifestList, "r.io/x:1"));
        Assert.AreEqual("MULTIARCH2011", ex.Code);
    }

    [TestMethod]
    [DataRow("not json")]
    [DataRow("[1,2]")]
    [DataRow("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:bad\",\"size\":1}]}")]
    [DataRow("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9\",\"size\":-1}]}")]
    public void MalformedManifestsGiveACodedError(string body)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestContent.Parse(System.Text.Encoding.UTF8.GetBytes(body), MediaTypes.OciIndex, "r.io/x:1"));
        Assert.AreEqual("MULTIARCH2008", ex.Code);
    }

    [TestMethod]
    public void UnknownMediaTypeIsRejected()
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => ManifestContent.Parse("{\"schemaVersion\":1,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+json\"}"u8.ToArray(), null, "r.io/x:1"));
        Assert.AreEqual("MULTIARCH2007", ex.Code);
    }

    private static Descriptor Entry(string digest, string platform) =>
        new(MediaTypes.OciManifest, Digest.Parse(digest), 401) { Platform = Platform.Parse(platform) };
}
