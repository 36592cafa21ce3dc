using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Inspection;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class InspectFormatterTests
{
    // manifest-tool's own output (notes §6.3), byte for byte.

    [TestMethod]
    public void Text_DockerList_MatchesManifestTool() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.DockerList()), "inspect/manifest-tool/list-docker.txt");

    [TestMethod]
    public void Text_IndexWithAttestation_MatchesManifestTool() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.WithAttestation()), "inspect/manifest-tool/index-attestation.txt");

    [TestMethod]
    public void Text_IndexWithWindowsEntry_MatchesManifestTool() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.WithWindows()), "inspect/manifest-tool/index-windows.txt");

    [TestMethod]
    public void Text_SingleImage_MatchesManifestTool() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.Amd64Image()), "inspect/manifest-tool/image-oci.txt");

    [TestMethod]
    [DataRow("list-docker.txt", "92c710d7416c8ec0511e2e9cbd3c8d94af28aa365c4a92f4f16c3bdc56de533b")]
    [DataRow("index-attestation.txt", "9c5ec1f274b164aa230c86d82c82e2f78b79e848f4c35ccdbf785fec48a43ecb")]
    [DataRow("index-windows.txt", "34c90ff9c5b9fce9a216125df9368580e17a76ffef8c7830ccc30bdd2d4e212f")]
    [DataRow("image-oci.txt", "1d6d0713c81677835263468d0ff471d79f4897acf37d0c70642c8da04c610e05")]
    public void ManifestToolSamplesAreVerbatim(string file, string sha256)
    {
        // These golden files are the specification, not our output: an accidental MULTIARCH_ACCEPT_GOLDEN=1 must not rewrite them.
        var bytes = File.ReadAllBytes(Path.Combine(Approvals.GoldenDirectory, "inspect", "manifest-tool", file));
        Assert.AreEqual(sha256, Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant(), file);
    }

    [TestMethod]
    public void SampleBytesHashToTheNotesDigests()
    {
        Assert.AreEqual(InspectSamples.DockerListDigest, InspectSamples.DockerList().Root.Digest.ToString());
        Assert.AreEqual(982, InspectSamples.DockerList().Root.Size);
        Assert.AreEqual(InspectSamples.WithAttestationDigest, InspectSamples.WithAttestation().Root.Digest.ToString());
        Assert.AreEqual(InspectSamples.WithWindowsDigest, InspectSamples.WithWindows().Root.Digest.ToString());
        Assert.AreEqual(InspectSamples.Amd64Digest, InspectSamples.Amd64Manifest.Digest.ToString());
        Assert.AreEqual(InspectSamples.Arm64Digest, InspectSamples.Arm64Manifest.Digest.ToString());
        Assert.AreEqual(InspectSamples.WindowsDigest, InspectSamples.WindowsManifest.Digest.ToString());
        Assert.AreEqual(InspectSamples.AttestationDigest, InspectSamples.AttestationManifest.Digest.ToString());
        Assert.AreEqual(458, InspectSamples.AttestationManifest.Size);
        Assert.AreEqual(
            InspectSamples.WindowsManifest.Config.Digest,
            Digest.FromContent(Encoding.UTF8.GetBytes(InspectSamples.WindowsConfigJson)));
    }

    // Our text where manifest-tool crashes or has nothing useful to say.

    [TestMethod]
    public void Text_DockerSingleImage() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.DockerImage()), "inspect/image-docker.txt");

    [TestMethod]
    public void Text_ChildWithoutPlatform() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.NoPlatform()), "inspect/edge-no-platform.txt");

    [TestMethod]
    public void Text_NestedIndex() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.NestedIndex()), "inspect/edge-nested-index.txt");

    [TestMethod]
    public void Text_ChildrenThatCannotBeShown() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.Unavailable()), "inspect/edge-unavailable.txt");

    [TestMethod]
    public void Text_TwelveEntries_NumbersShiftColumns() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.TwelveEntries()), "inspect/edge-twelve-entries.txt");

    [TestMethod]
    public void Text_AttestationAndWindowsIndex() =>
        Approvals.Verify(InspectFormatter.FormatText(InspectSamples.AttestationAndWindows()), "inspect/index-attestation-windows.txt");

    [TestMethod]
    [DataRow(0, 0, " * Contains 0 manifest references (0 image, 0 attestation):")]
    [DataRow(1, 0, " * Contains 1 manifest references (1 image, 0 attestation):")]
    [DataRow(2, 1, " * Contains 3 manifest references (2 images, 1 attestation):")]
    [DataRow(0, 2, " * Contains 2 manifest references (0 image, 2 attestations):")]
    [DataRow(3, 3, " * Contains 6 manifest references (3 images, 3 attestations):")]
    public void Text_CountLine_PluralOnlyAboveOne(int images, int attestations, string expected)
    {
        var lines = InspectFormatter.FormatText(InspectSamples.Counted(images, attestations)).Split('\n');
        Assert.AreEqual(expected, lines[2]);
    }

    [TestMethod]
    public void Text_TenthEntry_IsNotPadded()
    {
        var text = InspectFormatter.FormatText(InspectSamples.TwelveEntries());
        StringAssert.Contains(text, "\n[9]     Type: ");
        StringAssert.Contains(text, "\n[10]     Type: ");
        StringAssert.Contains(text, "\n[12]       >>> Attestation for digest: ");
        StringAssert.Contains(text, "\n     layer 11: digest = ");
    }

    [TestMethod]
    public void Text_UsesOnlyLineFeeds_AndEveryIndexEntryEndsWithBlankLine()
    {
        foreach (var result in AllResults())
        {
            var text = InspectFormatter.FormatText(result);
            Assert.DoesNotContain("\r", text, result.Name);
            Assert.EndsWith(result.Children.Count > 0 ? "\n\n" : "\n", text, result.Name);
        }
    }

    // JSON.

    [TestMethod]
    public void Json_AttestationAndWindowsIndex() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.AttestationAndWindows()), "inspect/index-attestation-windows.json");

    [TestMethod]
    public void Json_DockerList() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.DockerList()), "inspect/list-docker.json");

    [TestMethod]
    public void Json_OciSingleImage() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.Amd64Image()), "inspect/image-oci.json");

    [TestMethod]
    public void Json_DockerSingleImage() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.DockerImage()), "inspect/image-docker.json");

    [TestMethod]
    public void Json_ChildWithoutPlatform() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.NoPlatform()), "inspect/edge-no-platform.json");

    [TestMethod]
    public void Json_NestedIndex() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.NestedIndex()), "inspect/edge-nested-index.json");

    [TestMethod]
    public void Json_ChildrenThatCannotBeShown() =>
        Approvals.Verify(InspectFormatter.FormatJson(InspectSamples.Unavailable()), "inspect/edge-unavailable.json");

    [TestMethod]
    public void Json_IsValidDeterministicAndLineFeedOnly()
    {
        foreach (var result in AllResults())
        {
            var json = InspectFormatter.FormatJson(result);
            Assert.AreEqual(json, InspectFormatter.FormatJson(result), result.Name);
            Assert.DoesNotContain("\r", json, result.Name);
            Assert.EndsWith("}\n", json, result.Name);
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            Assert.AreEqual(InspectFormatter.JsonSchemaVersion, root.GetProperty("schemaVersion").GetInt32(), result.Name);
            Assert.AreEqual(result.Root.Digest.ToString(), root.GetProperty("digest").GetString(), result.Name);
            Assert.AreEqual(result.Root is ImageIndex, root.TryGetProperty("manifests", out _), result.Name);
            Assert.AreEqual(result.Root is ImageManifest, root.TryGetProperty("layers", out _), result.Name);
        }
    }

    [TestMethod]
    public void Json_ReferenceIsNormalised_NameIsVerbatim()
    {
        using var document = JsonDocument.Parse(InspectFormatter.FormatJson(InspectSamples.DockerImage()));
        Assert.AreEqual("myteam/demo:1.0-windows", document.RootElement.GetProperty("name").GetString());
        Assert.AreEqual("docker.io/myteam/demo:1.0-windows", document.RootElement.GetProperty("reference").GetString());
    }

    [TestMethod]
    public void Json_EscapedValuesRoundTrip()
    {
        using var document = JsonDocument.Parse(InspectFormatter.FormatJson(InspectSamples.DockerImage()));
        var config = document.RootElement.GetProperty("config");
        Assert.AreEqual("web \"blue\" & <green>", config.GetProperty("labels").GetProperty("com.example.team").GetString());
        Assert.AreEqual("C:\\app", config.GetProperty("workingDir").GetString());
    }

    private static IEnumerable<InspectResult> AllResults() =>
    [
        InspectSamples.DockerList(), InspectSamples.WithAttestation(), InspectSamples.WithWindows(), InspectSamples.Amd64Image(),
        InspectSamples.AttestationAndWindows(), InspectSamples.DockerImage(), InspectSamples.NoPlatform(), InspectSamples.NestedIndex(),
        InspectSamples.Unavailable(), InspectSamples.TwelveEntries(), InspectSamples.Counted(0, 0),
    ];
}
