using System.Text.Json;
using MultiArch.Build.Tasks.Inspection;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.RegistryTest;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Cli;

/// <summary>
/// <c>multiarch</c> in-process against the shared test registries: the same output as the tasks' formatter (and the
/// golden layouts), manifest-tool's <c>--raw</c> JSON, push outputs, credentials and TLS settings, Ctrl+C.
/// </summary>
[TestClass]
public sealed class CliRegistryTests
{
    private static RegistryServer s_open = null!;
    private static string s_repository = null!;
    private static TestIndex s_withAttestation = null!;
    private static TestIndex s_withWindows = null!;
    private static TestImage s_amd64 = null!;

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        s_open = await TestRegistries.Open;
        s_repository = TestNames.Repository("cli");
        s_withAttestation = TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "cli", withAttestation: true);
        s_withWindows = TestImages.Index(TestImages.AllPlatforms, "cli");
        s_amd64 = s_withWindows.Images[0];
        await PushTestKit.SeedDirectAsync(s_open, s_repository, "withatt", s_withAttestation, context.CancellationToken);
        await PushTestKit.SeedDirectAsync(s_open, s_repository, "noplat", s_withWindows, context.CancellationToken);
        // manifest-tool's demo:latest: a Docker manifest list over OCI manifests.
        await PushTestKit.SeedDirectAsync(s_open, s_repository, "dockerlist", TestImages.Index([.. s_withWindows.Images.Take(3)], ImageFormat.Docker), context.CancellationToken);
        await PushTestKit.SeedDirectAsync(s_open, context.CancellationToken, (s_repository, "amd64", s_amd64), (s_repository, "arm64", s_withWindows.Images[1]), (s_repository, "armv7", s_withWindows.Images[2]));
    }

    private static Dictionary<string, string?> Environment => TestClients.Environment(s_open);

    [TestMethod]
    [DataRow("dockerlist", "list-docker.txt")]
    [DataRow("withatt", "index-attestation.txt")]
    [DataRow("noplat", "index-windows.txt")]
    [DataRow("amd64", "image-oci.txt")]
    public async Task InspectTextHasManifestToolsGoldenLayoutAndTheTasksBytes(string tag, string golden)
    {
        var reference = s_open.Reference(s_repository, tag);
        var run = (await CliRun.InProcessAsync(Environment, Cancel, "inspect", reference)).ShouldSucceed();

        CliLayout.AssertSameLayout(await File.ReadAllTextAsync(Path.Combine(Approvals.GoldenDirectory, "inspect", "manifest-tool", golden), Cancel), run.Stdout, reference);
        Assert.AreEqual(InspectFormatter.FormatText(await InspectAsync(reference, includeChildConfigs: false)), run.Stdout, "the task's formatter, byte for byte");
        Assert.AreEqual(string.Empty, run.Stderr);
    }

    [TestMethod]
    public async Task InspectJsonIsTheTasksJsonAndRequiredPlatformsFailAfterPrinting()
    {
        var reference = s_open.Reference(s_repository, "noplat");
        var run = (await CliRun.InProcessAsync(Environment, Cancel, "inspect", "--format", "json", reference, "--required-platforms", "linux/amd64,windows/amd64")).ShouldSucceed();
        Assert.AreEqual(InspectFormatter.FormatJson(await InspectAsync(reference, includeChildConfigs: true)), run.Stdout);

        var missing = await CliRun.InProcessAsync(Environment, Cancel, "inspect", reference, "--required-platforms", "linux/s390x");
        missing.ShouldFailWith("MULTIARCH2010");
        Assert.StartsWith("Name:   " + reference, missing.Stdout, "the output comes first, as the task logs it before failing");

        var raw = (await CliRun.InProcessAsync(Environment, Cancel, "inspect", "--format=raw", reference)).ShouldSucceed();
        Assert.AreEqual(System.Text.Encoding.UTF8.GetString(s_withWindows.Bytes), raw.Stdout, "the registry's bytes");
    }

    [TestMethod]
    public async Task RawIsManifestToolsJsonForAnImage()
    {
        var reference = s_open.Reference(s_repository, "amd64");
        var run = (await CliRun.InProcessAsync(Environment, Cancel, "inspect", reference, "--raw")).ShouldSucceed();

        Assert.EndsWith("}\n", run.Stdout);
        Assert.Contains("\n    \"name\": ", run.Stdout, "four-space indent");
        using var document = JsonDocument.Parse(run.Stdout);
        var root = document.RootElement;
        CollectionAssert.AreEqual(new[] { "name", "digest", "os", "architecture", "schemaVersion", "mediaType", "config", "layers" }, root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.AreEqual(reference, root.GetProperty("name").GetString());
        Assert.AreEqual(s_amd64.Digest.ToString(), root.GetProperty("digest").GetString());
        Assert.AreEqual("linux", root.GetProperty("os").GetString());
        Assert.AreEqual("amd64", root.GetProperty("architecture").GetString());
        using var manifest = JsonDocument.Parse(s_amd64.Manifest);
        Assert.AreEqual(manifest.RootElement.GetProperty("config").GetProperty("digest").GetString(), root.GetProperty("config").GetProperty("digest").GetString());
        CollectionAssert.AreEqual(new[] { "mediaType", "digest", "size" }, root.GetProperty("config").EnumerateObject().Select(p => p.Name).ToArray(), "Go's descriptor order");

        var expanded = (await CliRun.InProcessAsync(Environment, Cancel, "inspect", "--raw", "--expand-config", reference)).ShouldSucceed();
        using var expandedDocument = JsonDocument.Parse(expanded.Stdout);
        var expandedRoot = expandedDocument.RootElement;
        CollectionAssert.AreEqual(new[] { "schemaVersion", "name", "digest", "os", "architecture", "mediaType", "config", "layers" }, expandedRoot.EnumerateObject().Select(p => p.Name).ToArray());
        var config = expandedRoot.GetProperty("config");
        Assert.AreEqual("amd64", config.GetProperty("architecture").GetString());
        Assert.AreEqual(s_amd64.Layers.Count, config.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
    }

    [TestMethod]
    public async Task RawIsManifestToolsJsonForAnIndex()
    {
        var reference = s_open.Reference(s_repository, "withatt");
        var run = (await CliRun.InProcessAsync(Environment, Cancel, "inspect", "--raw", reference)).ShouldSucceed();

        using var document = JsonDocument.Parse(run.Stdout);
        var root = document.RootElement;
        CollectionAssert.AreEqual(new[] { "name", "digest", "schemaVersion", "mediaType", "manifests" }, root.EnumerateObject().Select(p => p.Name).ToArray());
        var manifests = root.GetProperty("manifests").EnumerateArray().ToList();
        Assert.HasCount(3, manifests, "every child manifest, the attestation too");
        foreach (var (entry, image) in manifests.Zip(s_withAttestation.Manifests))
        {
            using var expected = JsonDocument.Parse(image.Manifest);
            Assert.AreEqual(expected.RootElement.GetProperty("config").GetProperty("digest").GetString(), entry.GetProperty("config").GetProperty("digest").GetString());
            Assert.IsFalse(entry.TryGetProperty("platform", out _), "manifest-tool's raw list view has no platforms");
        }

        var layer = manifests[2].GetProperty("layers")[0];
        Assert.AreEqual(TestImages.SpdxPredicateType, layer.GetProperty("annotations").GetProperty(TestImages.InTotoPredicateTypeAnnotation).GetString());
    }

    [TestMethod]
    public async Task PushPrintsManifestToolsDigestLineAndWritesTheDigestFile()
    {
        var target = TestNames.Repository("cli-push");
        var digestFile = Path.Combine(Path.GetTempPath(), "multiarch-tests", TestNames.Tag("digest"), "digest.txt");
        var template = s_open.Reference(s_repository, "ARCHVARIANT");
        var arguments = new[] { "push", "from-args", "--platforms", "linux/amd64,linux/arm64", "--platforms", "linux/arm/v7", "--template", template, "--target", s_open.Reference(target, "v1"), "--tags", "v1.0", "--digest-file", digestFile };

        var dryRun = (await CliRun.InProcessAsync(Environment, Cancel, [.. arguments, "--dry-run"])).ShouldSucceed();
        Assert.IsNull(await RegistryContent.ResolveAsync(s_open, target, "v1", Cancel), "a dry run writes nothing");
        Assert.IsFalse(File.Exists(digestFile), "nor the digest file");
        Assert.Contains("Dry run", dryRun.Stderr);

        var run = (await CliRun.InProcessAsync(Environment, Cancel, arguments)).ShouldSucceed();
        var pushed = await RegistryContent.GetManifestAsync(s_open, target, "v1", Cancel);
        Assert.IsNotNull(pushed);
        Assert.AreEqual($"Digest: {pushed.Digest} {pushed.Bytes.Length}\n", run.Stdout);
        Assert.AreEqual(dryRun.Stdout, run.Stdout, "the dry run computed the same index");
        Assert.AreEqual(pushed.Digest.ToString(), await File.ReadAllTextAsync(digestFile, Cancel));
        Assert.AreEqual(pushed.Digest.ToString(), await RegistryContent.ResolveAsync(s_open, target, "v1.0", Cancel));
        Assert.Contains(MediaTypes.OciManifest, pushed.Text, "OCI children: an OCI index, as the task chooses");
    }

    [TestMethod]
    public async Task OutputFilesThatCannotBeWritten_AreRefusedBeforeAnyRequest_MULTIARCH4025()
    {
        // As in the tasks (OutputFiles.CheckWritable): a folder given as the digest file or the report.
        var folder = Path.Combine(Path.GetTempPath(), "multiarch-tests", TestNames.Tag("unwritable"));
        Directory.CreateDirectory(folder);
        var target = TestNames.Repository("cli-unwritable");

        var push = await CliRun.InProcessAsync(Environment, Cancel, "push", "from-args", "--platforms", "linux/amd64", "--template", s_open.Reference(s_repository, "ARCH"), "--target", s_open.Reference(target, "v1"), "--digest-file", folder);
        var test = await CliRun.InProcessAsync(Environment, Cancel, "test-registry", $"{s_open.Host}/{target}-test", "--report", folder);

        push.ShouldFailWith("MULTIARCH4025");
        Assert.Contains("--digest-file", push.Stderr);
        test.ShouldFailWith("MULTIARCH4025");
        Assert.IsEmpty(await RegistryContent.TagsAsync(s_open, target, Cancel), "nothing was pushed");
        Directory.Delete(folder);
    }

    [TestMethod]
    public async Task FromSpecTakesEverythingTheTasksSpecTakes()
    {
        // Beyond manifest-tool: per-entry annotations, the os.version spelling, format; the same reader as the task.
        var target = TestNames.Repository("cli-spec");
        var spec = Path.Combine(Path.GetTempPath(), "multiarch-tests", TestNames.Tag("spec"), "spec.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(spec)!);
        await File.WriteAllTextAsync(spec, $$"""
            image: {{s_open.Reference(target, "1.0")}}
            format: oci
            annotations:
              org.opencontainers.image.title: cli
            manifests:
              - image: {{s_open.Reference(s_repository, "amd64")}}
                annotations:
                  com.example.entry: amd64
              - image: {{s_open.Reference(s_repository, "arm64")}}
            """, Cancel);

        var run = (await CliRun.InProcessAsync(Environment, Cancel, "push", "from-spec", spec)).ShouldSucceed();

        var pushed = await RegistryContent.GetManifestAsync(s_open, target, "1.0", Cancel);
        Assert.IsNotNull(pushed);
        Assert.AreEqual($"Digest: {pushed.Digest} {pushed.Bytes.Length}\n", run.Stdout);
        var index = (ImageIndex)ManifestContent.Parse(pushed.Bytes, null, "pushed");
        Assert.AreEqual(MediaTypes.OciIndex, index.MediaType);
        Assert.AreEqual("cli", index.Annotations["org.opencontainers.image.title"]);
        Assert.AreEqual("amd64", index.Manifests[0].Annotations["com.example.entry"]);
        Directory.Delete(Path.GetDirectoryName(spec)!, recursive: true);
    }

    [TestMethod]
    public async Task IgnoreMissingSkipsAMissingSourceWithACodedWarning()
    {
        var target = TestNames.Repository("cli-missing");
        string[] arguments = ["push", "from-args", "--platforms", "linux/amd64,linux/s390x", "--template", s_open.Reference(s_repository, "ARCH"), "--target", s_open.Reference(target, "v1")];

        (await CliRun.InProcessAsync(Environment, Cancel, arguments)).ShouldFailWith("MULTIARCH2003");
        var run = (await CliRun.InProcessAsync(Environment, Cancel, [.. arguments, "--ignore-missing"])).ShouldSucceed();

        Assert.MatchesRegex(@"(?m)^warning MULTIARCH\d{4}: .*s390x", run.Stderr, run.Describe("a coded warning naming the missing source"));
        var pushed = await RegistryContent.GetManifestAsync(s_open, target, "v1", Cancel);
        Assert.IsNotNull(pushed);
        Assert.Contains(s_amd64.Digest.ToString(), pushed.Text);
    }

    [TestMethod]
    public async Task CredentialsComeFromTheFlagsTheDockerConfigOrTheEnvironment()
    {
        var basic = await TestRegistries.Basic;
        var repository = TestNames.Repository("cli-auth");
        await PushTestKit.SeedDirectAsync(basic, Cancel, (repository, "amd64", s_amd64));
        var reference = basic.Reference(repository, "amd64");
        var anonymous = TestClients.Environment(basic, withCredentials: false);

        (await CliRun.InProcessAsync(anonymous, Cancel, "inspect", reference)).ShouldFailWith("MULTIARCH1004");
        (await CliRun.InProcessAsync(TestClients.Environment(basic), Cancel, "inspect", reference)).ShouldSucceed();
        var flags = (await CliRun.InProcessAsync(anonymous, Cancel, "--debug", "--username", basic.Username!, "--password", basic.Password!, "inspect", reference)).ShouldSucceed();
        Assert.DoesNotContain(basic.Password!, flags.Stdout + flags.Stderr, "the password never reaches the output");
        (await CliRun.InProcessAsync(anonymous, Cancel, "inspect", reference, "--username", basic.Username!, "--password", "wrong")).ShouldFailWith("MULTIARCH1003");

        var directory = Path.Combine(Path.GetTempPath(), "multiarch-tests", TestNames.Tag("docker-cfg"));
        Directory.CreateDirectory(directory);
        var auth = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{basic.Username}:{basic.Password}"));
        await File.WriteAllTextAsync(Path.Combine(directory, "config.json"), "{\"auths\": {\"" + basic.Host + "\": {\"auth\": \"" + auth + "\"}}}", Cancel);
        var file = Path.Combine(directory, "auth.json");
        File.Copy(Path.Combine(directory, "config.json"), file);
        (await CliRun.InProcessAsync(anonymous, Cancel, "inspect", "--docker-cfg", directory, reference)).ShouldSucceed();
        (await CliRun.InProcessAsync(anonymous, Cancel, "inspect", reference, "--docker-cfg=" + file)).ShouldSucceed();
        Directory.Delete(directory, recursive: true);
    }

    [TestMethod]
    public async Task InsecureAndPlainHttpNameTheRegistryOnTheCommandLine()
    {
        var reference = s_open.Reference(s_repository, "amd64");
        var secure = TestClients.Environment(s_open);
        secure.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        var refused = await CliRun.InProcessAsync(secure, Cancel, "inspect", reference);
        refused.ShouldFailWith("MULTIARCH1007");
        (await CliRun.InProcessAsync(secure, Cancel, "--plain-http", "inspect", reference)).ShouldSucceed();

        var tls = await TestRegistries.Tls;
        var repository = TestNames.Repository("cli-tls");
        await PushTestKit.SeedDirectAsync(tls, Cancel, (repository, "amd64", s_amd64));
        var tlsReference = tls.Reference(repository, "amd64");
        var tlsEnvironment = TestClients.Environment(tls);
        (await CliRun.InProcessAsync(tlsEnvironment, Cancel, "inspect", tlsReference)).ShouldFailWith("MULTIARCH1002");
        (await CliRun.InProcessAsync(tlsEnvironment, Cancel, "inspect", tlsReference, "--insecure")).ShouldSucceed();
    }

    [TestMethod]
    public async Task CtrlCStopsTheCommandWithACodedError()
    {
        await using var proxy = await FaultProxy.StartAsync(s_open, Cancel);
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.Delay(TimeSpan.FromSeconds(60)));
        using var ctrlC = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        ctrlC.CancelAfter(TimeSpan.FromMilliseconds(300));
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();

        var run = await CliRun.InProcessAsync(TestClients.Environment(proxy), ctrlC.Token, "inspect", proxy.Reference(s_repository, "withatt"));

        run.ShouldFailWith("MULTIARCH1014");
        Assert.IsLessThan(TimeSpan.FromSeconds(30), stopwatch.Elapsed, "it stopped at once, not after the delayed request");
        Assert.AreEqual(string.Empty, run.Stdout);
    }

    [TestMethod]
    public async Task TestRegistryPrintsTheTasksTableAndReport()
    {
        var repository = s_open.Reference(TestNames.Repository("cli-selftest"))[..^":latest".Length];
        var report = Path.Combine(Path.GetTempPath(), "multiarch-tests", TestNames.Tag("report"), "report.json");

        var run = (await CliRun.InProcessAsync(Environment, Cancel, "test-registry", repository, "--report", report)).ShouldSucceed();
        foreach (var capability in RegistryCapabilities.All)
        {
            Assert.Contains(capability.Name, run.Stdout, run.Describe(capability.Name));
        }

        Assert.Contains("Tested ", run.Stderr, "the summary");
        using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(report, Cancel));
        Assert.AreEqual(RegistryCapabilities.All.Count, document.RootElement.GetProperty("capabilities").GetArrayLength());
        Directory.Delete(Path.GetDirectoryName(report)!, recursive: true);

        var json = await CliRun.InProcessAsync(Environment, Cancel, "test-registry", "--format", "json", "--require", "Referrers", repository);
        json.ShouldFailWith("MULTIARCH1017");
        using var printed = JsonDocument.Parse(json.Stdout);
        Assert.AreEqual(RegistryCapabilities.All.Count, printed.RootElement.GetProperty("capabilities").GetArrayLength());
    }

    private static async Task<InspectResult> InspectAsync(string reference, bool includeChildConfigs)
    {
        using var client = new RegistryClient(TestClients.Settings(s_open));
        return await new ImageInspector(client).InspectAsync(reference, includeChildConfigs, CancellationToken.None);
    }
}
