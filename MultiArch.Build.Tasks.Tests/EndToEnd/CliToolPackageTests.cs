using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Cli;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// The packed <c>MultiArch.Tool</c> package, installed with <c>dotnet tool install --tool-path</c> from the run's
/// folder feed: every example of manifest-tool's README with <c>multiarch</c> in its place, the golden layouts, coded
/// errors without a stack trace, and the README's own CLI section run in bash (install, update, dnx).
/// </summary>
[TestClass]
public sealed class CliToolPackageTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(3);
    private static string s_multiarch = null!;
    private static string s_nugetConfigDirectory = null!;
    private static PackageFeed s_feed = null!;

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        s_feed = await PackageFeed.GetAsync();
        s_nugetConfigDirectory = Path.Combine(PackageFeed.RunDirectory, "tool-source");
        Directory.CreateDirectory(s_nugetConfigDirectory);
        await File.WriteAllTextAsync(Path.Combine(s_nugetConfigDirectory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{s_feed.FeedDirectory}" />
              </packageSources>
            </configuration>
            """, context.CancellationToken);
        var toolPath = Path.Combine(PackageFeed.RunDirectory, "tools");
        var install = await ProcessRunner.RunAsync("dotnet",
            ["tool", "install", "--tool-path", toolPath, "--configfile", Path.Combine(s_nugetConfigDirectory, "nuget.config"), "MultiArch.Tool", "--version", s_feed.Version],
            s_timeout, TestProject.ChildEnvironment(), s_nugetConfigDirectory, context.CancellationToken);
        install.EnsureSuccess();
        s_multiarch = Path.Combine(toolPath, "multiarch");
        Assert.IsTrue(File.Exists(s_multiarch), install.StandardOutputText);
    }

    [TestMethod]
    public void TheInstalledCommandIsNativeWhereItCanBe()
    {
        // eng/pack.sh compiles the tool Native AOT on linux-x64 with clang; elsewhere the package is framework-dependent.
        var target = new FileInfo(s_multiarch).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? s_multiarch;
        var native = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier == "linux-x64" && File.Exists("/usr/bin/clang");
        var directory = Path.GetDirectoryName(target)!;
        Assert.AreEqual(native, !File.Exists(Path.Combine(directory, "multiarch.dll")), $"{target}: native expected: {native}");
        if (native)
        {
            StringAssert.EndsWith(directory, "/tools/any/linux-x64", "the RID-specific package was chosen");
            Assert.IsFalse(File.Exists(Path.Combine(directory, "multiarch.dbg")), "symbols stay out of the package");
            Assert.IsTrue(File.Exists(Path.Combine(s_feed.FeedDirectory, $"MultiArch.Tool.any.{s_feed.Version}.nupkg")), "the framework-dependent fallback is packed too");
        }
    }

    [TestMethod]
    public async Task ManifestToolReadmeInspectExample()
    {
        // $ manifest-tool inspect golang:1.17
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("readme") + "/golang";
        var list = TestImages.Index(TestImages.LinuxPlatforms, "golang", ImageFormat.Docker);
        await PushTestKit.SeedDirectAsync(registry, repository, "1.17", list, Cancel);
        var reference = registry.Reference(repository, "1.17");

        var run = (await MultiarchAsync(registry, "--plain-http", "inspect", reference)).ShouldSucceed();

        Assert.StartsWith($"Name:   {reference} (Type: {MediaTypes.DockerManifestList})\nDigest: {list.Digest}\n * Contains 3 manifest references (3 images, 0 attestation):\n", run.Stdout);
        Assert.Contains($"[1]     Type: {MediaTypes.DockerManifest}\n[1]   Digest: {list.Images[0].Digest}\n[1]   Length: {list.Images[0].Manifest.Length}\n[1] Platform:\n[1]    -      OS: linux\n[1]    -    Arch: amd64\n[1] # Layers: 1\n     layer 01: digest = ", run.Stdout);
        Assert.EndsWith("\n\n", run.Stdout);
    }

    [TestMethod]
    public async Task ManifestToolReadmeFromSpecExample()
    {
        // $ manifest-tool push from-spec someimage.yaml  (the README's YAML, myprivreg:5000 being the test registry)
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("readme") + "/someimage";
        await PushTestKit.SeedDirectAsync(registry, Cancel,
            (repository, "arm64", TestImages.Image(TestImages.LinuxArm64, "someimage")),
            (repository, "amd64", TestImages.Image(TestImages.LinuxAmd64, "someimage")));
        var spec = Path.Combine(WorkDirectory(), "someimage.yaml");
        await File.WriteAllTextAsync(spec, $"""
            image: {registry.Host}/{repository}:latest
            tags: ["1.0.0", "1.0", "1"]
            manifests:
              -
                image: {registry.Host}/{repository}:arm64
                platform:
                  architecture: arm64
                  os: linux
              -
                image: {registry.Host}/{repository}:amd64
                platform:
                  architecture: amd64
                  os: linux
            """, Cancel);

        var run = (await MultiarchAsync(registry, "--plain-http", "push", "from-spec", spec)).ShouldSucceed();

        var pushed = await RegistryContent.GetManifestAsync(registry, repository, "latest", Cancel);
        Assert.IsNotNull(pushed);
        Assert.AreEqual($"Digest: {pushed.Digest} {pushed.Bytes.Length}\n", run.Stdout);
        foreach (var tag in new[] { "1.0.0", "1.0", "1" })
        {
            Assert.AreEqual(pushed.Digest.ToString(), await RegistryContent.ResolveAsync(registry, repository, tag, Cancel), tag);
        }
    }

    [TestMethod]
    [DataRow("linux/amd64,linux/s390x,linux/arm64", "bar-ARCH:v1", "v1.0.0,v1.0", "bar-amd64:v1 bar-s390x:v1 bar-arm64:v1")]
    [DataRow("linux/amd64,linux/arm/v5,linux/arm/v7", "bar-ARCHVARIANT:v1", null, "bar-amd64:v1 bar-armv5:v1 bar-armv7:v1")]
    public async Task ManifestToolReadmeFromArgsExamples(string platforms, string template, string? tags, string sources)
    {
        // $ manifest-tool push from-args --platforms … --template foo/bar-ARCH:v1 [--tags v1.0.0,v1.0] --target foo/bar:v1
        var registry = await TestRegistries.Open;
        var foo = TestNames.Repository("readme") + "/foo";
        var platformList = platforms.Split(',').Select(Platform.Parse).ToList();
        await PushTestKit.SeedDirectAsync(registry, Cancel, [.. sources.Split(' ').Zip(platformList).Select(pair =>
            ($"{foo}/{pair.First.Split(':')[0]}", (string?)"v1", TestImages.Image(pair.Second, "foo")))]);
        List<string> arguments = ["push", "from-args", "--platforms", platforms, "--template", $"{registry.Host}/{foo}/{template}"];
        if (tags is not null)
        {
            arguments.AddRange(["--tags", tags]);
        }

        arguments.AddRange(["--target", $"{registry.Host}/{foo}/bar:v1", "--plain-http"]);

        var run = (await MultiarchAsync(registry, [.. arguments])).ShouldSucceed();

        var pushed = await RegistryContent.GetManifestAsync(registry, foo + "/bar", "v1", Cancel);
        Assert.IsNotNull(pushed);
        Assert.AreEqual($"Digest: {pushed.Digest} {pushed.Bytes.Length}\n", run.Stdout);
        var index = (ImageIndex)ManifestContent.Parse(pushed.Bytes, null, "pushed");
        CollectionAssert.AreEqual(platformList.Select(p => p.ToString()).ToList(), index.Manifests.Select(d => d.Platform!.ToString().Replace("arm64/v8", "arm64", StringComparison.Ordinal)).ToList());
        foreach (var tag in (tags ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.AreEqual(pushed.Digest.ToString(), await RegistryContent.ResolveAsync(registry, foo + "/bar", tag, Cancel), tag);
        }
    }

    [TestMethod]
    public async Task ManifestToolReadmeTestRegistryExample()
    {
        // $ ./test-registry.sh r.myprivreg.com/somerepo
        var registry = await TestRegistries.Open;
        var repository = $"{registry.Host}/{TestNames.Repository("readme")}/somerepo";

        var run = (await MultiarchAsync(registry, "--plain-http", "test-registry", repository)).ShouldSucceed();

        Assert.Contains("DockerManifestList", run.Stdout);
        Assert.Contains("OciIndex", run.Stdout);
        Assert.Contains($"Tested {repository}: ", run.Stderr);
    }

    [TestMethod]
    public async Task InstalledToolMatchesTheGoldenLayoutAndFailsWithCodesOnly()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("golden");
        await PushTestKit.SeedDirectAsync(registry, repository, "noplat", TestImages.Index(TestImages.AllPlatforms, "golden"), Cancel);

        var run = (await MultiarchAsync(registry, "inspect", "--plain-http", registry.Reference(repository, "noplat"))).ShouldSucceed();
        CliLayout.AssertSameLayout(await File.ReadAllTextAsync(Path.Combine(Approvals.GoldenDirectory, "inspect", "manifest-tool", "index-windows.txt"), Cancel), run.Stdout, "installed multiarch");

        (await MultiarchAsync(registry, "inspect")).ShouldFailWith("MULTIARCH5006");
        (await MultiarchAsync(registry, "inspect", "--plain-http", registry.Reference(repository, "nope"))).ShouldFailWith("MULTIARCH2003");
        (await MultiarchAsync(registry, "push", "from-spec", Path.Combine(RepoPaths.TestAssets, "specs", "invalid", "alias-bomb.yaml"))).ShouldFailWith("MULTIARCH3006");
        (await MultiarchAsync(registry, "push", "from-args", "--target", "r/a:1", "--template", "r/a:ARCH")).ShouldFailWith("MULTIARCH5008");
    }

    [TestMethod]
    public async Task SigtermStopsTheInstalledCommandWithACodedError()
    {
        // Ctrl+C and SIGTERM share one handler; a background job of a non-interactive shell ignores SIGINT, so the
        // signal sent here is SIGTERM. The registry hangs on the manifest request until long after the signal.
        var registry = await TestRegistries.Open;
        await using var proxy = await FaultProxy.StartAsync(registry, Cancel);
        proxy.When(r => r.Is("GET", "/manifests/") || r.Is("HEAD", "/manifests/"), FaultAction.Delay(TimeSpan.FromSeconds(60)));
        var environment = TestProject.ChildEnvironment(new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = proxy.Host });
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();

        var result = await ProcessRunner.RunAsync("bash",
            ["-c", "\"$0\" inspect \"$1\" & pid=$!; sleep 2; kill -TERM $pid; wait $pid", s_multiarch, proxy.Reference(TestNames.Repository("sigterm"), "1.0")],
            s_timeout, environment, WorkDirectory(), Cancel);

        var run = new CliRun(["inspect"], result.ExitCode, result.StandardOutputText, result.StandardError);
        run.ShouldFailWith("MULTIARCH1014");
        Assert.IsLessThan(TimeSpan.FromSeconds(40), stopwatch.Elapsed, "it stopped on the signal, not after the delayed request");
    }

    [TestMethod]
    public async Task ReadmeCliSectionRunsInBash()
    {
        await using var registry = await RegistryServer.StartAsync(new RegistryOptions(RegistryMode.Open), Cancel);
        await PushTestKit.SeedDirectAsync(registry, Cancel,
            ("app", "1.0-linux-amd64", TestImages.Image(TestImages.LinuxAmd64, "readme")),
            ("app", "1.0-linux-arm64", TestImages.Image(TestImages.LinuxArm64, "readme")));
        var script = ReadmeBlock().Replace("myregistry.io", registry.Host, StringComparison.Ordinal).Replace("0.1.0", s_feed.Version, StringComparison.Ordinal);
        var work = WorkDirectory();
        File.Copy(Path.Combine(s_nugetConfigDirectory, "nuget.config"), Path.Combine(work, "nuget.config"));
        var home = Path.Combine(work, "home");
        Directory.CreateDirectory(home);
        var dotnetDirectory = Path.GetDirectoryName(ResolveDotnet())!;
        var environment = TestProject.ChildEnvironment(new Dictionary<string, string?>
        {
            ["HOME"] = home,
            ["PATH"] = $"{home}/.dotnet/tools:{dotnetDirectory}:{Environment.GetEnvironmentVariable("PATH")}",
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = registry.Host,
        });

        var result = await ProcessRunner.RunAsync("bash", ["-euo", "pipefail", "-c", script], s_timeout, environment, work, Cancel);

        var output = result.StandardOutputText;
        Assert.AreEqual(0, result.ExitCode, $"the README's CLI block failed:\n{script}\n--- stdout\n{output}\n--- stderr\n{result.StandardError}");
        var index = await RegistryContent.GetManifestAsync(registry, "app", "1.0", Cancel);
        Assert.IsNotNull(index);
        Assert.Contains($"multiarch version {s_feed.Version}\n", output);
        Assert.Contains($"Digest: {index.Digest} {index.Bytes.Length}\n", output);
        Assert.AreEqual(2, output.Split($"Name:   {registry.Host}/app:1.0 (Type: {MediaTypes.OciIndex})\n").Length - 1, "inspect, then dnx inspect:\n" + output);
        Assert.AreEqual(index.Digest.ToString(), await File.ReadAllTextAsync(Path.Combine(work, "app.digest"), Cancel));
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(work, "app.json"), Cancel));
        Assert.AreEqual(index.Digest.ToString(), json.RootElement.GetProperty("digest").GetString());
        Assert.Contains($"\"name\": \"{registry.Host}/app:1.0-linux-amd64\"", output, "inspect --raw");
        Assert.Contains("DockerManifestList", output, "test-registry's table");
        Assert.Contains("Dry run: would push", result.StandardError);
    }

    private async Task<CliRun> MultiarchAsync(RegistryServer registry, params string[] arguments)
    {
        var environment = TestProject.ChildEnvironment();
        if (registry.Username is not null)
        {
            environment["MULTIARCH_REGISTRY_USERNAME"] = registry.Username;
            environment["MULTIARCH_REGISTRY_PASSWORD"] = registry.Password;
        }

        var result = await ProcessRunner.RunAsync(s_multiarch, arguments, s_timeout, environment, WorkDirectory(), Cancel);
        return new CliRun(arguments, result.ExitCode, result.StandardOutputText, result.StandardError);
    }

    private string WorkDirectory()
    {
        var path = Path.Combine(PackageFeed.RunDirectory, "cli", TestContext.TestName + "-" + TestNames.Tag("w"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The bash block of the README's CLI section (the one after the comment naming this test).</summary>
    private static string ReadmeBlock()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        var marker = readme.IndexOf(nameof(ReadmeCliSectionRunsInBash), StringComparison.Ordinal);
        Assert.IsGreaterThan(0, marker, "the README names this test above its CLI block");
        var start = readme.IndexOf("```bash\n", marker, StringComparison.Ordinal) + "```bash\n".Length;
        var end = readme.IndexOf("\n```", start, StringComparison.Ordinal);
        return readme[start..end] + "\n";
    }

    private static string ResolveDotnet()
    {
        var path = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, "dotnet")).First(File.Exists);
        return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
    }
}
