using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// <c>dotnet msbuild -t:InspectContainerImage</c> on a project that consumes the packed package, against the shared
/// registries (open, token, TLS) with images skopeo pushed. The tests share one restored project (the target writes
/// nothing into it); each build has its own binary log.
/// </summary>
[TestClass]
public sealed class InspectEndToEndTests
{
    private const string Target = "InspectContainerImage";

    private static TestProject s_project = null!;
    private static Seeded s_oci = null!;
    private static Seeded s_docker = null!;
    private static Seeded s_tls = null!;

    public TestContext TestContext { get; set; } = null!;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        var project = TestProject.CreateAsync("inspect", cancellationToken: context.CancellationToken);
        var oci = SeedAsync(RegistryMode.Open, "e2e-oci", TestImages.Index(TestImages.LinuxPlatforms, "e2e-oci", withAttestation: true), context.CancellationToken);
        var docker = SeedAsync(RegistryMode.Token, "e2e-docker", TestImages.Index(TestImages.LinuxPlatforms, "e2e-docker", ImageFormat.Docker), context.CancellationToken);
        var tls = SeedAsync(RegistryMode.Tls, "e2e-tls", TestImages.Index(TestImages.AllPlatforms, "e2e-tls"), context.CancellationToken);
        await Task.WhenAll(project, oci, docker, tls);
        (s_project, s_oci, s_docker, s_tls) = (project.Result, oci.Result, docker.Result, tls.Result);
    }

    [TestMethod]
    public async Task TextShowsAnOciIndexWithItsAttestationByTag()
    {
        var reference = s_oci.ByTag;
        var outputFile = OutputFile("oci.txt");
        var result = await InspectAsync(s_oci, reference, new()
        {
            ["ContainerInspectRequiredPlatforms"] = "linux/amd64;linux/arm64",
            ["ContainerInspectOutputFile"] = outputFile,
        });

        result.ShouldSucceed()
            .ShouldContain($"Name:   {reference} (Type: {MediaTypes.OciIndex})")
            .ShouldContain($"Digest: {s_oci.Index.Digest}")
            .ShouldContain(" * Contains 4 manifest references (3 images, 1 attestation):")
            .ShouldContain($">>> Attestation for digest: {s_oci.Index.Images[0].Digest}")
            .ShouldNotContain("warning", "a warning");
        foreach (var (image, i) in s_oci.Index.Manifests.Select((m, i) => (m, i + 1)))
        {
            result.ShouldContain($"[{i}]   Digest: {image.Digest}");
        }

        ShouldShowWholeOutput(result, await File.ReadAllTextAsync(outputFile, TestContext.CancellationToken));
    }

    [TestMethod]
    public async Task JsonDescribesAnOciIndexByDigest()
    {
        var outputFile = OutputFile("oci.json");
        var result = await InspectAsync(s_oci, s_oci.ByDigest, new() { ["ContainerInspectFormat"] = "json", ["ContainerInspectOutputFile"] = outputFile });

        result.ShouldSucceed();
        var json = await File.ReadAllTextAsync(outputFile, TestContext.CancellationToken);
        ShouldShowWholeOutput(result, json);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.AreEqual(s_oci.ByDigest, root.GetProperty("name").GetString());
        Assert.AreEqual(s_oci.Index.Digest.ToString(), root.GetProperty("digest").GetString());
        Assert.AreEqual(MediaTypes.OciIndex, root.GetProperty("mediaType").GetString());
        var entries = root.GetProperty("manifests").EnumerateArray().ToList();
        Assert.HasCount(4, entries);
        CollectionAssert.AreEqual(new[] { false, false, false, true }, entries.Select(e => e.GetProperty("attestation").GetBoolean()).ToList());
        Assert.AreEqual(s_oci.Index.Images[0].Digest.ToString(), entries[3].GetProperty("attestationFor").GetString());
    }

    [TestMethod]
    public async Task TextShowsADockerManifestListByTagOverTokenAuth()
    {
        var result = await InspectAsync(s_docker, s_docker.ByTag);

        result.ShouldSucceed()
            .ShouldContain($"Name:   {s_docker.ByTag} (Type: {MediaTypes.DockerManifestList})")
            .ShouldContain($"Digest: {s_docker.Index.Digest}")
            .ShouldContain(" * Contains 3 manifest references (3 images, 0 attestation):")
            .ShouldContain($"[3]     Type: {MediaTypes.DockerManifest}")
            .ShouldContain($"type = {MediaTypes.DockerLayer}");
    }

    [TestMethod]
    public async Task RawPrintsTheRegistryBytesOfADockerManifestListByDigest()
    {
        var outputFile = OutputFile("docker.raw");
        var result = await InspectAsync(s_docker, s_docker.ByDigest, new() { ["ContainerInspectFormat"] = "raw", ["ContainerInspectOutputFile"] = outputFile });

        result.ShouldSucceed();
        CollectionAssert.AreEqual(s_docker.Index.Bytes, await File.ReadAllBytesAsync(outputFile, TestContext.CancellationToken));
        ShouldShowWholeOutput(result, Encoding.UTF8.GetString(s_docker.Index.Bytes));
    }

    [TestMethod]
    public async Task TlsRegistryIsTrustedThroughSslCertFileOnly()
    {
        var result = await InspectAsync(s_tls, s_tls.ByTag);
        result.ShouldSucceed()
            .ShouldContain($"Name:   {s_tls.ByTag} (Type: {MediaTypes.OciIndex})")
            .ShouldContain("[4]    - OS Vers: 10.0.20348.2113");

        // Without SSL_CERT_FILE (the machine's bundle applies) the same build fails with the coded TLS error.
        var environment = TestProject.RegistryEnvironment(s_tls.Registry);
        environment["SSL_CERT_FILE"] = null;
        var untrusted = await s_project.MSBuildAsync(Target, new() { ["ContainerInspectImage"] = s_tls.ByTag }, environment, cancellationToken: TestContext.CancellationToken);
        untrusted.ShouldFailWith("MULTIARCH1002").ShouldShowNoStackTrace();
    }

    [TestMethod]
    public async Task MissingRequiredPlatformFailsWithMULTIARCH2010()
    {
        var result = await InspectAsync(s_oci, s_oci.ByTag, new() { ["ContainerInspectRequiredPlatforms"] = "linux/s390x" });

        result.ShouldFailWith("MULTIARCH2010")
            .ShouldContain("linux/s390x")
            .ShouldShowNoStackTrace();
        Assert.AreNotEqual(0, result.ExitCode);
    }

    [TestMethod]
    public async Task InvalidReferenceFailsWithMULTIARCH2001()
    {
        var result = await InspectAsync(s_oci, s_oci.Registry.Host + "/Not A Valid//Name::x");

        result.ShouldFailWith("MULTIARCH2001").ShouldShowNoStackTrace();
        Assert.AreNotEqual(0, result.ExitCode);
    }

    [TestMethod]
    public async Task TargetReturnsOneItemPerPlatformAndSetsTheDigest()
    {
        var result = await s_project.MSBuildAsync(
            Target,
            new() { ["ContainerInspectImage"] = s_oci.ByTag },
            TestProject.RegistryEnvironment(s_oci.Registry),
            ["-getTargetResult:" + Target, "-getProperty:ContainerInspectedDigest", "-getProperty:ContainerInspectedMediaType"],
            TestContext.CancellationToken);

        result.ShouldSucceed();
        using var document = JsonDocument.Parse(result.Output);
        var properties = document.RootElement.GetProperty("Properties");
        Assert.AreEqual(s_oci.Index.Digest.ToString(), properties.GetProperty("ContainerInspectedDigest").GetString());
        Assert.AreEqual(MediaTypes.OciIndex, properties.GetProperty("ContainerInspectedMediaType").GetString());
        var items = document.RootElement.GetProperty("TargetResults").GetProperty(Target).GetProperty("Items").EnumerateArray().ToList();
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7" }, items.Select(i => i.GetProperty("Identity").GetString()).ToList());
        var arm = items[2];
        Assert.AreEqual(s_oci.Index.Images[2].Digest.ToString(), arm.GetProperty("Digest").GetString());
        Assert.AreEqual("arm", arm.GetProperty("Architecture").GetString());
        Assert.AreEqual("v7", arm.GetProperty("Variant").GetString());
        Assert.AreEqual(MediaTypes.OciManifest, arm.GetProperty("MediaType").GetString());
    }

    /// <summary>
    /// The whole output, line by line and in order, in the console: the minimal-verbosity console logger prints a
    /// High-importance message with two spaces before each line.
    /// </summary>
    private static void ShouldShowWholeOutput(BuildResult result, string output)
    {
        static string Normalize(IEnumerable<string> lines) => string.Join('\n', lines.Select(l => l.TrimEnd()));
        var expected = Normalize(output.TrimEnd('\n').Split('\n').Select(l => "  " + l));
        var console = Normalize(result.Output.Split('\n'));
        if (!console.Contains(expected, StringComparison.Ordinal))
        {
            Assert.Fail($"The console does not show the whole output:\n{output}\n{result.Report()}");
        }
    }

    private Task<BuildResult> InspectAsync(Seeded seeded, string reference, Dictionary<string, string>? properties = null)
    {
        properties ??= [];
        properties["ContainerInspectImage"] = reference;
        return s_project.MSBuildAsync(Target, properties, TestProject.RegistryEnvironment(seeded.Registry), cancellationToken: TestContext.CancellationToken);
    }

    private string OutputFile(string name) => Path.Combine(s_project.Directory, "out", TestContext.TestName + "-" + name);

    private static async Task<Seeded> SeedAsync(RegistryMode mode, string name, TestIndex index, CancellationToken cancellationToken)
    {
        var registry = await TestRegistries.Get(mode);
        var repository = TestNames.Repository(name);
        await SkopeoPusher.PushAsync(registry, repository, "v1", index, cancellationToken);
        return new Seeded(registry, index, registry.Reference(repository, "v1"), registry.Reference(repository, index.Digest.ToString()));
    }

    private sealed record Seeded(RegistryServer Registry, TestIndex Index, string ByTag, string ByDigest);
}
