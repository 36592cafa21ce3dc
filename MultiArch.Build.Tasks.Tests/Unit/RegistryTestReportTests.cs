using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.RegistryTest;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>The registry self-test's images (deterministic per run, unique across runs, real tar and gzip) and its report (table and JSON).</summary>
[TestClass]
public sealed class RegistryTestReportTests
{
    private static readonly Platform s_arm = new("linux", "arm", "v7");

    [TestMethod]
    public void Images_SameRunSameBytes_OtherRunOtherDigests()
    {
        var first = new RegistryTestImage(s_arm, "20260101000000-abcd");
        var again = new RegistryTestImage(s_arm, "20260101000000-abcd");
        var other = new RegistryTestImage(s_arm, "20260101000000-abce");

        CollectionAssert.AreEqual(first.Config, again.Config);
        CollectionAssert.AreEqual(first.Layer, again.Layer);
        Assert.AreEqual(first.OciManifest.Digest, again.OciManifest.Digest);
        Assert.AreEqual(first.DockerManifest.Digest, again.DockerManifest.Digest);
        Assert.AreNotEqual(Digest.FromContent(first.Config), Digest.FromContent(other.Config));
        Assert.AreNotEqual(Digest.FromContent(first.Layer), Digest.FromContent(other.Layer));
        Assert.AreNotEqual(first.OciManifest.Digest, other.OciManifest.Digest);
    }

    [TestMethod]
    public void Image_IsATinyValidImage_InBothFormats()
    {
        const string RunId = "20260101000000-abcd";
        var image = new RegistryTestImage(s_arm, RunId);

        // The layer is a gzipped tar of one file naming the run and the platform; the config's diff_id is the tar's digest.
        using var tar = new MemoryStream();
        using (var gzip = new GZipStream(new MemoryStream(image.Layer), CompressionMode.Decompress))
        {
            gzip.CopyTo(tar);
        }

        var tarBytes = tar.ToArray();
        tar.Position = 0;
        using var reader = new TarReader(tar);
        var entry = reader.GetNextEntry()!;
        Assert.AreEqual("multiarch-registry-test.txt", entry.Name);
        Assert.AreEqual(TarEntryType.RegularFile, entry.EntryType);
        using var content = new StreamReader(entry.DataStream!, Encoding.UTF8);
        Assert.AreEqual($"MultiArch.Build.Tasks registry test\nrun: {RunId}\nplatform: linux/arm/v7\n", content.ReadToEnd());
        Assert.IsNull(reader.GetNextEntry());

        var config = ImageConfig.Parse(image.Config, "config");
        Assert.AreEqual(s_arm, config.Platform);
        StringAssert.Contains(config.Labels["org.opencontainers.image.description"], RunId);
        using var json = JsonDocument.Parse(image.Config);
        Assert.AreEqual(Digest.FromContent(tarBytes).ToString(), json.RootElement.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString());

        foreach (var (manifest, mediaType, configType, layerType) in new[]
        {
            (image.OciManifest, MediaTypes.OciManifest, MediaTypes.OciConfig, MediaTypes.OciLayer),
            (image.DockerManifest, MediaTypes.DockerManifest, MediaTypes.DockerConfig, MediaTypes.DockerLayer),
        })
        {
            Assert.AreEqual(mediaType, manifest.MediaType);
            Assert.AreEqual((configType, Digest.FromContent(image.Config), (long)image.Config.Length), (manifest.Config.MediaType, manifest.Config.Digest, manifest.Config.Size));
            var layer = manifest.Layers.Single();
            Assert.AreEqual((layerType, Digest.FromContent(image.Layer), (long)image.Layer.Length), (layer.MediaType, layer.Digest, layer.Size));
            Assert.IsLessThan(600, manifest.Size);
        }

        Assert.IsLessThan(400, image.Config.Length, "a few hundred bytes");
        Assert.IsLessThan(400, image.Layer.Length, "a few hundred bytes");
        Assert.AreEqual(s_arm, image.Entry(image.OciManifest).Platform);
        Assert.AreSame(image.DockerManifest, image.ManifestFor(MediaTypes.DockerManifestList));
        Assert.AreSame(image.OciManifest, image.ManifestFor(MediaTypes.OciIndex));
    }

    [TestMethod]
    public void Artifact_HasASubjectAnArtifactTypeAndTheEmptyConfig()
    {
        var subject = new Descriptor(MediaTypes.OciManifest, Digest.FromContent("x"u8), 1);
        var artifact = new RegistryTestArtifact(subject, "run");

        Assert.AreEqual((subject.MediaType, subject.Digest, subject.Size), (artifact.Manifest.Subject!.MediaType, artifact.Manifest.Subject.Digest, artifact.Manifest.Subject.Size));
        Assert.AreEqual(RegistryTestArtifact.ArtifactType, artifact.Manifest.ArtifactType);
        Assert.AreEqual("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", artifact.Manifest.Config.Digest.ToString());
        Assert.AreEqual(RegistryTestArtifact.EmptyMediaType, artifact.Manifest.Config.MediaType);
    }

    [TestMethod]
    public void Table_OneRowPerCapability_RequiredMarked_LeftOversSummarised()
    {
        var report = Report(
            leftBehind: ["reg.io/app:multiarch-test-r-oci", "reg.io/app@sha256:" + new string('a', 64), "reg.io/app@sha256:" + new string('b', 64)],
            foundBefore: ["reg.io/app:multiarch-test-old-oci"]);

        var table = report.FormatTable();

        Assert.AreEqual(
            """
            Registry test of reg.io/app: run r, tags multiarch-test-r-..., 42 requests, 1.5 s
              Capability              Result         Details
              DockerManifestList *    supported      3 platforms
              OciIndex *              not supported  PUT /v2/app/manifests/multiarch-test-r-oci -> 415 MANIFEST_INVALID (no OCI)
              Referrers               skipped        it needs an image to refer to, and none was pushed
              * required (ContainerRegistryTestRequire): DockerManifestList, OciIndex
            Left behind (3): reg.io/app:multiarch-test-r-oci, 2 untagged manifests in reg.io/app
            Left by earlier runs (1): reg.io/app:multiarch-test-old-oci
            """.ReplaceLineEndings("\n"),
            table);
        Assert.IsFalse(report.Passed);
        Assert.AreEqual(RegistryCapabilities.OciIndex, report.MissingRequired.Single().Name);
    }

    [TestMethod]
    public void Json_HasEveryFieldTheReadmeDocuments()
    {
        using var json = JsonDocument.Parse(Report(leftBehind: [], foundBefore: []).ToJson());
        var root = json.RootElement;

        CollectionAssert.AreEqual(
            new[] { "repository", "sourceRepository", "runId", "started", "seconds", "requests", "result", "required", "capabilities", "cleanup", "leftBehind", "foundBefore" },
            root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.AreEqual("2026-01-02T03:04:05Z", root.GetProperty("started").GetString());
        Assert.AreEqual("failed", root.GetProperty("result").GetString());
        var oci = root.GetProperty("capabilities")[1];
        CollectionAssert.AreEqual(new[] { "name", "title", "result", "required", "detail", "answer" }, oci.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.AreEqual("not supported", oci.GetProperty("result").GetString());
        Assert.IsTrue(oci.GetProperty("required").GetBoolean());
        var answer = oci.GetProperty("answer");
        Assert.AreEqual("PUT", answer.GetProperty("method").GetString());
        Assert.AreEqual(415, answer.GetProperty("status").GetInt32());
        Assert.AreEqual("MANIFEST_INVALID", answer.GetProperty("errorCodes")[0].GetString());
        Assert.AreEqual("no OCI", answer.GetProperty("message").GetString());
        Assert.AreEqual(JsonValueKind.Null, root.GetProperty("capabilities")[0].GetProperty("answer").ValueKind);
    }

    [TestMethod]
    public void CapabilityNames_AreUniqueAndFoundInAnyCase()
    {
        Assert.HasCount(RegistryCapabilities.All.Count, RegistryCapabilities.All.Select(c => c.Name).Distinct());
        Assert.AreEqual(RegistryCapabilities.OciIndex, RegistryCapabilities.Find(" ociindex ")!.Name);
        Assert.IsNull(RegistryCapabilities.Find("OciIndexes"));
        CollectionAssert.AreEqual(new[] { "DockerManifestList", "OciIndex" }, RegistryCapabilities.DefaultRequired.ToArray());
    }

    private static RegistryTestReport Report(IReadOnlyList<string> leftBehind, IReadOnlyList<string> foundBefore) => new(
        ImageReference.Parse("reg.io/app"),
        ImageReference.Parse("reg.io/app-source"),
        "r",
        new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
        TimeSpan.FromSeconds(1.5),
        42,
        [
            new(RegistryCapabilities.DockerManifestList, CapabilityState.Supported, "3 platforms"),
            new(RegistryCapabilities.OciIndex, CapabilityState.NotSupported, "PUT /v2/app/manifests/multiarch-test-r-oci -> 415 MANIFEST_INVALID (no OCI)",
                new RegistryAnswer("PUT", "/v2/app/manifests/multiarch-test-r-oci", 415, ["MANIFEST_INVALID"], "no OCI")),
            new(RegistryCapabilities.Referrers, CapabilityState.Skipped, "it needs an image to refer to, and none was pushed"),
        ],
        RegistryCapabilities.DefaultRequired,
        leftBehind,
        foundBefore,
        CleanupRequested: true);
}
