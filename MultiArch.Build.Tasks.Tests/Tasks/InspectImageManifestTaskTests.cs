using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>The InspectImageManifest task, run in-process with a recording build engine against the real registries.</summary>
[TestClass]
public sealed class InspectImageManifestTaskTests
{

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Token)]
    [DataRow(RegistryMode.Tls)]
    public async Task InspectsAnIndexWithAttestationInEveryFormatByTagAndDigest(RegistryMode mode)
    {
        var server = await TestRegistries.Get(mode);
        var repository = TestNames.Repository("inspect-task");
        var index = TestImages.Index(TestImages.AllPlatforms, "inspect", withAttestation: true);
        await SkopeoPusher.PushAsync(server, repository, "multi", index, TestContext.CancellationToken);

        foreach (var reference in new[] { server.Reference(repository, "multi"), server.Reference(repository, index.Digest.ToString()) })
        {
            var (text, engine, task) = Run(server, reference, "text");
            Assert.IsEmpty(engine.Errors, engine.AllText);
            StringAssert.StartsWith(text, $"Name:   {reference} (Type: {MediaTypes.OciIndex})\nDigest: {index.Digest}\n * Contains 5 manifest references (4 images, 1 attestation):\n");
            StringAssert.Contains(text, "[4]    - OS Vers: 10.0.20348.2113\n[4]    - OS Feat: [win32k]\n");
            StringAssert.Contains(text, $"[5]       >>> Attestation for digest: {index.Images[0].Digest}");
            Assert.AreEqual(index.Digest.ToString(), task.Digest);
            Assert.AreEqual(MediaTypes.OciIndex, task.MediaType);
            CollectionAssert.AreEqual(
                new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64" },
                task.Manifests.Select(m => m.ItemSpec).ToArray());
            var arm = task.Manifests[2];
            Assert.AreEqual("arm", arm.GetMetadata("Architecture"));
            Assert.AreEqual("v7", arm.GetMetadata("Variant"));
            Assert.AreEqual(index.Images[2].Digest.ToString(), arm.GetMetadata("Digest"));
            Assert.AreEqual(index.Images[2].Size.ToString(System.Globalization.CultureInfo.InvariantCulture), arm.GetMetadata("Size"));
            Assert.AreEqual("10.0.20348.2113", task.Manifests[3].GetMetadata("OSVersion"));
        }

        var (raw, rawEngine, _) = Run(server, server.Reference(repository, "multi"), "raw");
        Assert.IsEmpty(rawEngine.Errors, rawEngine.AllText);
        Assert.AreEqual(System.Text.Encoding.UTF8.GetString(index.Bytes), raw);

        var (json, jsonEngine, _) = Run(server, server.Reference(repository, "multi"), "json");
        Assert.IsEmpty(jsonEngine.Errors, jsonEngine.AllText);
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var manifests = document.RootElement.GetProperty("manifests");
        Assert.AreEqual(5, manifests.GetArrayLength());
        Assert.AreEqual("windows", manifests[3].GetProperty("config").GetProperty("os").GetString(), "json includes each child's config");
    }

    [TestMethod]
    public async Task InspectsASingleDockerImage()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("inspect-single");
        var image = TestImages.Image(TestImages.LinuxArm64, "single", ImageFormat.Docker);
        await SkopeoPusher.PushAsync(server, repository, "1", image, TestContext.CancellationToken);
        var (text, engine, task) = Run(server, server.Reference(repository, "1"), null);
        Assert.IsEmpty(engine.Errors, engine.AllText);
        var expected =
            $"Name: {server.Reference(repository, "1")} (Type: {MediaTypes.DockerManifest})\n" +
            $"      Digest: {image.Digest}\n" +
            $"        Size: {image.Size}\n" +
            "          OS: linux\n" +
            "        Arch: arm64\n" +
            "    # Layers: 1\n" +
            $"      layer 01: digest = {image.Layers[0].Digest}";
        Assert.AreEqual(expected, text);
        Assert.HasCount(1, task.Manifests);
        Assert.AreEqual("linux/arm64/v8", task.Manifests[0].ItemSpec);
    }

    [TestMethod]
    public async Task RequiredPlatformsGateNamesWhatIsMissing()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("inspect-gate");
        var index = TestImages.Index(TestImages.LinuxPlatforms, "gate", ImageFormat.Docker);
        await SkopeoPusher.PushAsync(server, repository, "1", index, TestContext.CancellationToken);

        var (_, ok, _) = Run(server, server.Reference(repository, "1"), "text", required: "linux/amd64;linux/arm64,linux/arm/v7");
        Assert.IsEmpty(ok.Errors, ok.AllText);

        var (_, engine, _) = Run(server, server.Reference(repository, "1"), "text", required: "linux/amd64;windows/amd64;linux/s390x");
        var error = engine.ErrorLines.Single();
        StringAssert.StartsWith(error, "MULTIARCH2010: ");
        StringAssert.Contains(error, "windows/amd64, linux/s390x");
        StringAssert.Contains(error, "linux/arm/v7");
    }

    [TestMethod]
    [DataRow("not a reference", null, null, "MULTIARCH2001")]
    [DataRow("127.0.0.1:1/app:1", "yaml", null, "MULTIARCH4001")]
    [DataRow("127.0.0.1:1/app:1", null, "linux", "MULTIARCH2009")]
    [DataRow("", null, null, "MULTIARCH4002")]
    public void BadInputFailsBeforeAnyRequest(string image, string? format, string? required, string code)
    {
        var engine = new FakeBuildEngine();
        var task = new InspectImageManifest
        {
            BuildEngine = engine,
            Image = image,
            Format = format,
            RequiredPlatforms = required,
            TransportFactory = () => throw new AssertFailedException("no request may be sent for invalid input"),
        };
        Assert.IsFalse(task.Execute());
        Assert.AreEqual(code, engine.Errors.Single().Code, engine.AllText);
        Assert.DoesNotContain("   at ", engine.AllText, "no stack trace for an expected failure");
    }

    [TestMethod]
    public async Task UnknownTagFailsTheTaskWithOneCodedError()
    {
        var server = await TestRegistries.Basic;
        var (_, engine, _) = Run(server, server.Reference(TestNames.Repository("inspect-none"), "missing"), null);
        Assert.AreEqual("MULTIARCH2004", engine.Errors.Single().Code, engine.AllText);
        Assert.DoesNotContain("   at ", engine.AllText);
        Assert.DoesNotContain(server.Password!, engine.AllText);
    }

    [TestMethod]
    public async Task WritesTheOutputFile()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("inspect-file");
        var image = TestImages.Image(TestImages.LinuxAmd64, "file");
        await SkopeoPusher.PushAsync(server, repository, "1", image, TestContext.CancellationToken);
        var file = Path.Combine(Path.GetTempPath(), "multiarch-tests", Guid.NewGuid().ToString("N"), "out.json");
        var (_, engine, _) = Run(server, server.Reference(repository, "1"), "raw", outputFile: file);
        Assert.IsEmpty(engine.Errors, engine.AllText);
        CollectionAssert.AreEqual(image.Manifest, File.ReadAllBytes(file));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    private static (string Output, FakeBuildEngine Engine, InspectImageManifest Task) Run(RegistryServer server, string image, string? format, string? required = null, string? outputFile = null)
    {
        var engine = new FakeBuildEngine();
        var task = new InspectImageManifest
        {
            BuildEngine = engine,
            Image = image,
            Format = format,
            RequiredPlatforms = required,
            OutputFile = outputFile,
            Environment = TestClients.Lookup(TestClients.Environment(server)),
            TransportFactory = server.IsTls ? server.CreateTrustingHandler : null,
        };
        task.Execute();
        var output = engine.Messages.FirstOrDefault(m => m.Importance == Microsoft.Build.Framework.MessageImportance.High)?.Message ?? string.Empty;
        return (output, engine, task);
    }
}
