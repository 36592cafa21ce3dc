using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// The README, executed. Every <c>dotnet</c> command of its shell blocks, and every <c>run:</c>/<c>script:</c> step of
/// its CI recipes, runs through bash as a user or a runner runs it (GitHub Actions: <c>bash -e {0}</c>; Azure Pipelines:
/// macros replaced, then <c>bash --noprofile --norc</c>), against a private loopback registry with Basic
/// authentication, using the package packed into the run's local feed.
/// </summary>
/// <remarks>
/// The test changes only placeholders, and prints every command as it ran it:
/// <list type="bullet">
/// <item>the registry hosts <c>myregistry.io</c>, <c>ghcr.io</c> and <c>myacr.azurecr.io</c> become the loopback registry
/// (<c>127.0.0.1:port</c>);</item>
/// <item>the package version <c>0.1.0</c> becomes the run's (<c>0.1.0-e2e.…</c>);</item>
/// <item>runner expressions and macros get what a tag push gives (<c>github.ref_name</c>, <c>Build.SourceBranchName</c>,
/// the matrix values; the secret and actor are the registry's test user).</item>
/// </list>
/// Shell variables the README reads (<c>$feed</c>, <c>$RUNNER_TEMP</c>) are set as a user or runner sets them. A project
/// that is not in the README (the user's own app) sets <c>ContainerBaseImage</c> to a base image on the loopback registry,
/// as the README's first-hour section says to do without internet.
/// </remarks>
[TestClass]
public sealed partial class ReadmeCommandTests
{
    private const string ReadmeVersion = "0.1.0";
    private const string PowerShellVersion = "7.6.10";
    private static readonly string[] s_placeholderHosts = ["myregistry.io", "ghcr.io", "myacr.azurecr.io"];
    private static readonly TimeSpan s_stepTimeout = TimeSpan.FromMinutes(5);
    private static readonly SemaphoreSlim s_setupLock = new(1, 1);
    private static RegistryServer? s_registry;
    private static string? s_checkout;

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [ClassCleanup]
    public static async Task CleanupAsync()
    {
        if (s_registry is not null)
        {
            await s_registry.DisposeAsync();
        }
    }

    // ------------------------------------------------------------------------------------------------ the README

    [TestMethod]
    public async Task InstallCommands_ReferenceTheLocalBuildThroughAProjectNugetConfig_NotTheUserWideOne()
    {
        var feed = await PackageFeed.GetAsync();
        var commands = ShellCommands().Where(c => c.Section == "Install").ToList();
        CollectionAssert.AreEqual(
            new[] { "dotnet new nugetconfig", "dotnet nuget add", "dotnet add package" },
            commands.Select(c => string.Join(' ', c.Text.Split(' ').Take(3))).ToArray(),
            "the first-hour commands, in order");

        // The user's app: a new console project in a folder of its own.
        var app = Path.Combine(PackageFeed.RunDirectory, "projects", TestNames.Tag("first-hour"), "MyApp");
        Directory.CreateDirectory(app);
        var environment = TestProject.ChildEnvironment(new Dictionary<string, string?> { ["feed"] = feed.FeedDirectory });
        (await RunBashAsync("dotnet new console", app, environment, "setup: the user's app")).ShouldSucceed();
        foreach (var command in commands)
        {
            (await RunBashAsync(Substitute(command.Text, registryHost: null, feed.Version), app, environment, command.ToString())).ShouldSucceed();
        }

        var nugetConfig = await File.ReadAllTextAsync(Path.Combine(app, "nuget.config"), Cancel);
        StringAssert.Contains(nugetConfig, feed.FeedDirectory, "the local feed is a source of this project");
        var userConfig = Path.Combine(TestProject.HomeDirectory, ".nuget", "NuGet", "NuGet.Config");
        Assert.IsFalse(File.Exists(userConfig) && File.ReadAllText(userConfig).Contains(feed.FeedDirectory, StringComparison.Ordinal), "the user-wide NuGet.Config is left alone");
        var csproj = await File.ReadAllTextAsync(Path.Combine(app, "MyApp.csproj"), Cancel);
        var documented = Substitute(Block(Readme(), "`dotnet add package` writes this", "xml"), registryHost: null, feed.Version);
        var written = Regex.Match(csproj, @"\s*<ItemGroup>.*?</ItemGroup>", RegexOptions.Singleline).Value;
        Assert.AreEqual(Regex.Replace(documented, @"\s+", " ").Trim(), Regex.Replace(written, @"\s+", " ").Trim(), "the README shows what dotnet add package writes");
        Assert.IsTrue(Directory.Exists(Path.Combine(TestProject.PackagesDirectory, "multiarch.build.tasks", feed.Version)), "restored from the local feed");
    }

    [TestMethod]
    public async Task EveryOtherDotnetCommandInTheReadme_RunsInBash_AndDoesWhatItSays()
    {
        var registry = await RegistryAsync();
        var host = registry.Host;
        var feed = await PackageFeed.GetAsync();
        var readme = Readme();

        // Sources the README's commands expect: the images its spec and template name, the arm/v7 image its publish
        // project joins as it is, and a base image for the app.
        await SeedAsync(registry, "app", "1.0-linux-amd64", TestImages.Image(TestImages.LinuxAmd64, "readme"));
        await SeedAsync(registry, "app", "1.0-linux-arm64", TestImages.Image(TestImages.LinuxArm64, "readme"));
        await SeedAsync(registry, "app", "1.0-linux-armv7", TestImages.Image(TestImages.LinuxArmV7, "readme"));
        await SkopeoPusher.PushAsync(registry, "app", "1.0", TestImages.Index(TestImages.LinuxPlatforms, "readme-before"), Cancel);
        await SeedAsync(registry, "myapp", "1.0.0-linux-arm", TestImages.Image(TestImages.LinuxArmV7, "readme-armv7"));
        var baseImage = await SeedBaseAsync(registry);

        // Commands of the publish section run in the README's publish project (its PropertyGroup and items, verbatim but
        // for the host); the others in a project with only the package reference (the Install section's), where the
        // spec block is manifest.yaml.
        var publishXml = Substitute(Block(readme, "## Publish a multi-platform image", "xml"), host, feed.Version);
        var publishProject = await TestProject.CreateAsync("readme-publish", publishXml.Replace("</PropertyGroup>", $"  <OutputType>Exe</OutputType>\n  <ContainerBaseImage>{baseImage}</ContainerBaseImage>\n</PropertyGroup>", StringComparison.Ordinal), Cancel);
        File.Copy(Path.Combine(RepoPaths.TestAssets, "SampleApp", "Program.cs"), Path.Combine(publishProject.Directory, "Program.cs"));
        var plainProject = await TestProject.CreateAsync("readme", cancellationToken: Cancel);
        await File.WriteAllTextAsync(Path.Combine(plainProject.Directory, "manifest.yaml"), Substitute(Block(readme, "## Push an index from existing images", "yaml"), host, feed.Version), Cancel);
        var environment = await LoggedInEnvironmentAsync(registry, Path.Combine(plainProject.Directory, "docker-config"));

        // The command-line tool's section installs and runs `multiarch`: CliToolPackageTests.ReadmeCliSectionRunsInBash runs it.
        var commands = ShellCommands().Where(c => c.Section != "Install" && !c.Section.StartsWith("The `multiarch` command", StringComparison.Ordinal)).ToList();
        Assert.IsGreaterThanOrEqualTo(9, commands.Count, string.Join('\n', commands));
        foreach (var command in commands)
        {
            var project = command.Section.StartsWith("Publish a multi-platform image", StringComparison.Ordinal) ? publishProject : plainProject;
            var result = (await RunBashAsync(Substitute(command.Text, host, feed.Version), project.Directory, environment, command.ToString())).ShouldSucceed();
            if (command.Text.Contains("-getProperty:ContainerInspectOutput", StringComparison.Ordinal) && command.Text.Contains("=json", StringComparison.Ordinal))
            {
                using var json = JsonDocument.Parse(result.Output);
                Assert.AreEqual(3, json.RootElement.GetProperty("manifests").GetArrayLength(), result.Describe());
            }
            else if (command.Text.Contains("-getProperty:ContainerInspectOutput", StringComparison.Ordinal))
            {
                StringAssert.StartsWith(result.Output, $"Name:   {host}/app:1.0 (Type: application/vnd.oci.image.index.v1+json)", result.Describe());
            }
            else if (command.Text.Contains("ContainerInspectFormat=raw", StringComparison.Ordinal))
            {
                var served = await RegistryContent.GetManifestAsync(registry, "app", "1.0", Cancel);
                CollectionAssert.AreEqual(served!.Bytes, await File.ReadAllBytesAsync(Path.Combine(project.Directory, "index.json"), Cancel), "the registry's bytes");
            }
            else if (command.Text.Contains("-getProperty:ContainerManifestPushedReferences", StringComparison.Ordinal))
            {
                Assert.MatchesRegex($@"^{Regex.Escape(host)}/\S+:\S+@sha256:[0-9a-f]{{64}}(\n{Regex.Escape(host)}/\S+@sha256:[0-9a-f]{{64}})*\n?$", result.Output, result.Describe());
            }
            else if (command.Text.Contains("-t:TestContainerRegistry", StringComparison.Ordinal))
            {
                StringAssert.StartsWith(result.Output, $"Registry test of {host}/multiarch-test: run ", result.Describe());
                StringAssert.Contains(result.Output, $"Tested {host}/multiarch-test: ", result.Describe());
            }
        }

        // What the pushes and the publish left in the registry: app:1.0 as the spec (pushed last) says; myapp:1.0.0 as
        // the publish project says (its two platforms and the arm/v7 image it names), stitched again by the
        // stitch-only command from the per-platform images the publish pushed.
        await AssertIndexAsync(registry, "app", "1.0", ["linux/amd64", "linux/arm64/v8"], alsoTagged: ["1", "latest"]);
        await AssertIndexAsync(registry, "myapp", "1.0.0", ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"], alsoTagged: ["latest"]);
    }

    [TestMethod]
    public async Task EverySuggestedCommandInTheMessages_WorksWhenPastedIntoBash()
    {
        var resx = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "MultiArch.Build.Tasks", "Resources", "Strings.resx"), Cancel);
        var suggestions = SuggestedSwitch().Matches(System.Net.WebUtility.HtmlDecode(resx))
            .Select(m => Regex.Replace(m.Value.TrimEnd('.', ',', ';', ':'), @"\{\d\}", "linux-x64;linux-arm64"))
            .Distinct()
            .ToList();
        Assert.IsGreaterThanOrEqualTo(4, suggestions.Count, string.Join('\n', suggestions));

        var probe = await ProbeProjectAsync("suggestions", "RuntimeIdentifiers");
        foreach (var suggestion in suggestions)
        {
            var result = (await RunBashAsync($"dotnet msbuild probe.proj -t:Show -tl:off -v:m {suggestion}", probe, TestProject.ChildEnvironment(), "a message suggests: " + suggestion)).ShouldSucceed();
            if (suggestion.Contains("RuntimeIdentifiers", StringComparison.Ordinal))
            {
                StringAssert.Contains(result.Output, "RuntimeIdentifiers items: [linux-x64] [linux-arm64]", "a list, not one value\n" + result.Describe());
            }
        }
    }

    [TestMethod]
    public async Task ListQuoting_TheBashFormsTheReadmeGives_PassOneList_AndTheFormsItWarnsAgainstFail()
    {
        var readme = Readme();
        var start = readme.IndexOf("### Lists on the command line", StringComparison.Ordinal);
        var section = readme[start..readme.IndexOf("\n## ", start, StringComparison.Ordinal)];
        var spans = Regex.Matches(section, "`([^`]+)`").Select(m => m.Groups[1].Value).ToList();
        // bash's forms: single-quoted, or double-quoted with \" inside (PowerShell's "" and cmd's bare \" are not bash).
        var bashForms = spans.Where(t => t.StartsWith("'-p:ContainerImageTags=", StringComparison.Ordinal) || (t.StartsWith("\"-p:ContainerImageTags=", StringComparison.Ordinal) && t.Contains("\\\"", StringComparison.Ordinal))).Distinct().ToList();
        var failing = spans.Where(t => t is "-p:ContainerImageTags=1.0.0;latest" or "-p:ContainerImageTags=\"1.0.0;latest\"").Distinct().ToList();
        Assert.HasCount(3, bashForms, string.Join('\n', bashForms));
        Assert.HasCount(2, failing, string.Join('\n', spans));

        var probe = await ProbeProjectAsync("quoting", "ContainerImageTags");
        var environment = TestProject.ChildEnvironment(new Dictionary<string, string?> { ["tag"] = "v1" });
        foreach (var form in bashForms)
        {
            var result = (await RunBashAsync($"dotnet msbuild probe.proj -t:Show -tl:off -v:m {form}", probe, environment, "README's bash form " + form)).ShouldSucceed();
            Assert.MatchesRegex(@"ContainerImageTags items: \[(1\.0\.0|v1)\] \[latest\]", result.Output, result.Describe());
        }

        foreach (var form in failing)
        {
            // "…" bare: bash removes the quotes and MSBuild stops with MSB1006. Unquoted: the ; ends the command, which
            // runs with one tag, then bash cannot find a command named latest.
            var result = await RunBashAsync($"dotnet msbuild probe.proj -t:Show -tl:off -v:m {form}", probe, environment, "a form the README warns against: " + form);
            Assert.AreNotEqual(0, result.ExitCode, result.Describe());
            Assert.DoesNotContain("[latest]", result.Output, result.Describe());
            StringAssert.Contains(result.Output + result.Error, form.Contains('"', StringComparison.Ordinal) ? "MSB1006" : "latest: command not found", result.Describe());
        }

        // An escaped semicolon passes, but as a literal character: one item, as the README says.
        Assert.Contains("-p:X=a%3Bb", spans);
        var escaped = (await RunBashAsync("dotnet msbuild probe.proj -t:Show -tl:off -v:m -p:ContainerImageTags=1.0.0%3Blatest", probe, environment, "an escaped semicolon")).ShouldSucceed();
        StringAssert.Contains(escaped.Output, "ContainerImageTags items: [1.0.0;latest]", escaped.Describe());
    }

    [TestMethod]
    public async Task ListQuoting_ThePowerShellFormsTheReadmeGives_PassOneList_AndBareQuotesFail()
    {
        var readme = Readme();
        var start = readme.IndexOf("### Lists on the command line", StringComparison.Ordinal);
        var section = readme[start..readme.IndexOf("\n## ", start, StringComparison.Ordinal)];
        var row = section.Split('\n').Single(l => l.StartsWith("| PowerShell 7 (pwsh) |", StringComparison.Ordinal));
        var forms = Regex.Matches(row, "`([^`]+)`").Select(m => m.Groups[1].Value).ToList();
        Assert.HasCount(2, forms, row);

        var pwsh = await PowerShellAsync();
        var probe = await ProbeProjectAsync("quoting-pwsh", "ContainerImageTags");
        foreach (var form in forms)
        {
            var result = await RunPowerShellAsync(pwsh, $"dotnet msbuild probe.proj -t:Show -tl:off -v:m {form}", probe, "README's PowerShell form " + form);
            Assert.AreEqual(0, result.ExitCode, result.Describe());
            Assert.MatchesRegex(@"ContainerImageTags items: \[(1\.0\.0|v1)\] \[latest\]", result.Output, result.Describe());
        }

        // The quotes bare: PowerShell removes them, and MSBuild stops with MSB1006, as the README says.
        var bare = await RunPowerShellAsync(pwsh, "dotnet msbuild probe.proj -t:Show -tl:off -v:m -p:ContainerImageTags=\"1.0.0;latest\"", probe, "the bare quotes the README warns against");
        Assert.AreNotEqual(0, bare.ExitCode, bare.Describe());
        StringAssert.Contains(bare.Output + bare.Error, "MSB1006", bare.Describe());
    }

    /// <summary>PowerShell 7 (the PowerShell .NET global tool, from the machine's package source), once per run.</summary>
    private static async Task<string> PowerShellAsync()
    {
        var toolPath = Path.Combine(PackageFeed.RunDirectory, "tools", "pwsh");
        var pwsh = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "pwsh.exe" : "pwsh");
        await s_setupLock.WaitAsync();
        try
        {
            if (!File.Exists(pwsh))
            {
                var install = await ProcessRunner.RunAsync("dotnet", ["tool", "install", "PowerShell", "--version", PowerShellVersion, "--tool-path", toolPath], s_stepTimeout);
                Assert.AreEqual(0, install.ExitCode, $"dotnet tool install PowerShell {PowerShellVersion}:\n{install.StandardOutputText}\n{install.StandardError}");
            }
        }
        finally
        {
            s_setupLock.Release();
        }

        return pwsh;
    }

    /// <summary>Runs <paramref name="command"/> as a line of a PowerShell script (<c>pwsh -File</c>), with <c>$tag</c> set.</summary>
    private async Task<ShellResult> RunPowerShellAsync(string pwsh, string command, string directory, string what)
    {
        var script = $"$tag = 'v1'\n{command}\nexit $LASTEXITCODE";
        var file = Path.Combine(Path.GetTempPath(), "multiarch-tests", $"step-{Guid.NewGuid():N}.ps1");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, script + "\n", Cancel);
        try
        {
            var started = DateTime.UtcNow;
            var result = await ProcessRunner.RunAsync(pwsh, ["-NoProfile", "-NonInteractive", "-File", file], s_stepTimeout, TestProject.ChildEnvironment(), directory, Cancel);
            var shellResult = new ShellResult(what, script, result.ExitCode, result.StandardOutputText, result.StandardError, DateTime.UtcNow - started);
            TestContext.WriteLine($"[{shellResult.Elapsed.TotalSeconds:0.0} s, exit {result.ExitCode}] {what}\n  PS> {command}");
            return shellResult;
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<string> ProbeProjectAsync(string name, string property)
    {
        var probe = Path.Combine(PackageFeed.RunDirectory, "projects", TestNames.Tag(name));
        Directory.CreateDirectory(probe);
        await File.WriteAllTextAsync(Path.Combine(probe, "probe.proj"), $"""
            <Project>
              <Target Name="Show">
                <ItemGroup><_Value Include="$({property})" /></ItemGroup>
                <Message Importance="high" Text="{property} items: @(_Value->'[%(Identity)]', ' ')" />
              </Target>
            </Project>
            """);
        return probe;
    }

    // ------------------------------------------------------------------------------------------------ CI recipes

    [TestMethod]
    public void TheReadmeCarriesFourRecipes()
    {
        CollectionAssert.AreEquivalent(
            new[] { "GitHub Actions: one job", "GitHub Actions: a matrix and a final stitch job", "Azure Pipelines: one job", "Azure Pipelines: a matrix and a final stitch job" },
            Recipes().Keys.ToArray());
    }

    [TestMethod]
    [DataRow("GitHub Actions: one job", "v1.0.0")]
    [DataRow("GitHub Actions: a matrix and a final stitch job", "v1.1.0")]
    [DataRow("Azure Pipelines: one job", "v2.0.0")]
    [DataRow("Azure Pipelines: a matrix and a final stitch job", "v2.1.0")]
    public async Task Recipe_RunsStepByStepAsTheRunnerWould_AndPublishesTheIndex(string title, string gitTag)
    {
        var registry = await RegistryAsync();
        var checkout = await CheckoutAsync(registry);
        var github = title.StartsWith("GitHub", StringComparison.Ordinal);
        var repository = github ? "octo-org/myapp" : "myapp";
        var jobs = Jobs(Recipes()[title], github);
        Assert.AreEqual(title.Contains("matrix", StringComparison.Ordinal) ? 3 : 1, jobs.Count, "jobs, matrix legs counted one by one");

        var runnerTemp = Path.Combine(checkout, "..", TestNames.Tag("runner-temp"));
        Directory.CreateDirectory(runnerTemp);
        var ran = 0;
        foreach (var job in jobs)
        {
            // Every job (every matrix leg) is a fresh runner: its own docker config, filled by its login step.
            var dockerConfig = Path.Combine(runnerTemp, job.Name, "docker");
            Directory.CreateDirectory(dockerConfig);
            var environment = TestProject.ChildEnvironment(TestProject.RegistryEnvironment(registry, withCredentials: false));
            environment["DOCKER_CONFIG"] = dockerConfig;
            environment["RUNNER_TEMP"] = runnerTemp;
            if (!github)
            {
                // The Docker@2 login task is not a script: do what it does.
                (await RunBashAsync($"echo \"$PASSWORD\" | docker login {registry.Host} -u {registry.Username} --password-stdin", checkout,
                    new Dictionary<string, string?>(environment) { ["PASSWORD"] = registry.Password }, $"{job.Name}: Docker@2 login (done by the test)")).ShouldSucceed();
            }

            foreach (var step in job.Steps)
            {
                Assert.IsFalse(Regex.IsMatch(step, "(?i)-p:[^ ]*(pass|pword|secret|token)"), $"a secret passed as an MSBuild property is recorded in binary logs: {step}");
                var script = github
                    ? GitHubExpressions(step, job.Variables, gitTag, repository, registry)
                    : AzureMacros(step, job.Variables, gitTag);
                script = Substitute(script, registry.Host, version: null);
                List<string> shell = github ? ["-e"] : ["--noprofile", "--norc"];
                (await RunBashAsync(script, checkout, environment, $"{title} / {job.Name}: {step.Split('\n')[0]}", shell)).ShouldSucceed();
                ran++;
            }
        }

        Assert.IsGreaterThanOrEqualTo(jobs.Count, ran, "every job ran a step");
        var digest = await AssertIndexAsync(registry, repository, gitTag, ["linux/amd64", "linux/arm64/v8"], alsoTagged: ["latest"]);
        if (title == "GitHub Actions: a matrix and a final stitch job")
        {
            Assert.AreEqual(digest, File.ReadAllText(Path.Combine(runnerTemp, "index-digest.txt")).Trim(), "the digest file the stitch job writes");
        }
    }

    // ------------------------------------------------------------------------------------------------ running

    /// <summary>Runs <paramref name="script"/> from a file, as runners do, and prints it with its result.</summary>
    private async Task<ShellResult> RunBashAsync(string script, string directory, IReadOnlyDictionary<string, string?> environment, string what, IReadOnlyList<string>? shellOptions = null)
    {
        var file = Path.Combine(Path.GetTempPath(), "multiarch-tests", $"step-{Guid.NewGuid():N}.sh");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, script + "\n", Cancel);
        try
        {
            var started = DateTime.UtcNow;
            var result = await ProcessRunner.RunAsync("bash", [.. shellOptions ?? ["-e"], file], s_stepTimeout, environment, directory, Cancel);
            var shellResult = new ShellResult(what, script, result.ExitCode, result.StandardOutputText, result.StandardError, DateTime.UtcNow - started);
            TestContext.WriteLine($"[{shellResult.Elapsed.TotalSeconds:0.0} s, exit {result.ExitCode}] {what}\n  $ {Masked(script).Replace("\n", "\n    ", StringComparison.Ordinal)}");
            return shellResult;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The script as printed: the test registry's password (a runner's secret) replaced by ***.</summary>
    private static string Masked(string text) =>
        s_registry?.Password is { Length: > 0 } password ? text.Replace(password, "***", StringComparison.Ordinal) : text;

    private sealed record ShellResult(string What, string Script, int ExitCode, string Output, string Error, TimeSpan Elapsed)
    {
        public ShellResult ShouldSucceed()
        {
            Assert.AreEqual(0, ExitCode, Describe());
            Assert.DoesNotContain("MSB1006", Output + Error, Describe());
            return this;
        }

        public string Describe() => $"{What}\n$ {Masked(Script)}\nexit {ExitCode} after {Elapsed.TotalSeconds:0.0} s\nstdout:\n{Output}\nstderr:\n{Error}";
    }

    /// <summary>
    /// The placeholders the test replaces: the README's registry hosts become <paramref name="registryHost"/>, its package
    /// version the run's. Everything else runs as written.
    /// </summary>
    private static string Substitute(string text, string? registryHost, string? version)
    {
        foreach (var placeholder in s_placeholderHosts.Where(_ => registryHost is not null))
        {
            text = text.Replace(placeholder, registryHost, StringComparison.Ordinal);
        }

        return version is null ? text : text
            .Replace($"--version {ReadmeVersion}", $"--version {version}", StringComparison.Ordinal)
            .Replace($"Version=\"{ReadmeVersion}\"", $"Version=\"{version}\"", StringComparison.Ordinal);
    }

    private static async Task<Dictionary<string, string?>> LoggedInEnvironmentAsync(RegistryServer registry, string dockerConfig)
    {
        Directory.CreateDirectory(dockerConfig);
        var environment = TestProject.ChildEnvironment(TestProject.RegistryEnvironment(registry, withCredentials: false));
        environment["DOCKER_CONFIG"] = dockerConfig;
        var login = await ProcessRunner.RunAsync("bash", ["-c", $"echo \"$PASSWORD\" | docker login {registry.Host} -u {registry.Username} --password-stdin"], TimeSpan.FromSeconds(60),
            new Dictionary<string, string?>(environment) { ["PASSWORD"] = registry.Password });
        login.EnsureSuccess();
        return environment;
    }

    private static async Task<RegistryServer> RegistryAsync()
    {
        await s_setupLock.WaitAsync();
        try
        {
            return s_registry ??= await RegistryServer.StartAsync(new RegistryOptions(RegistryMode.Basic));
        }
        finally
        {
            s_setupLock.Release();
        }
    }

    private async Task SeedAsync(RegistryServer registry, string repository, string tag, TestImage image) =>
        await SkopeoPusher.PushAsync(registry, repository, tag, image, Cancel);

    private async Task<string> SeedBaseAsync(RegistryServer registry)
    {
        const string Repository = "base/runtime";
        if (await RegistryContent.ResolveAsync(registry, Repository, "10.0", Cancel) is null)
        {
            await SkopeoPusher.PushAsync(registry, Repository, "10.0", TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "base"), Cancel);
        }

        return registry.Reference(Repository, "10.0");
    }

    /// <summary>
    /// The folder CI checks out: <c>src/MyApp/MyApp.csproj</c> (the sample app's code; a project with RuntimeIdentifiers,
    /// the package and a base image on the loopback registry), the run's <c>nuget.config</c> and the repository's
    /// <c>global.json</c>. One per run: later recipes build incrementally.
    /// </summary>
    private async Task<string> CheckoutAsync(RegistryServer registry)
    {
        await s_setupLock.WaitAsync(Cancel);
        try
        {
            if (s_checkout is not null)
            {
                return s_checkout;
            }

            var baseImage = await SeedBaseAsync(registry);
            var template = await TestProject.CreateAsync("checkout", cancellationToken: Cancel);
            var checkout = Path.Combine(template.Directory, "checkout");
            var app = Path.Combine(checkout, "src", "MyApp");
            Directory.CreateDirectory(app);
            foreach (var file in new[] { "nuget.config", "global.json", "Directory.Build.props", "Directory.Build.targets" })
            {
                File.Copy(Path.Combine(template.Directory, file), Path.Combine(checkout, file));
            }

            File.Copy(Path.Combine(RepoPaths.TestAssets, "SampleApp", "Program.cs"), Path.Combine(app, "Program.cs"));
            await File.WriteAllTextAsync(Path.Combine(app, "MyApp.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>
                    <ContainerBaseImage>{baseImage}</ContainerBaseImage>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="{PackageFeed.PackageId}" Version="{template.Feed.Version}" PrivateAssets="all" />
                  </ItemGroup>
                </Project>

                """, Cancel);
            return s_checkout = checkout;
        }
        finally
        {
            s_setupLock.Release();
        }
    }

    /// <summary>Asserts that <paramref name="tag"/> is an index of <paramref name="platforms"/>, and the other tags point at it; returns its digest.</summary>
    private async Task<string> AssertIndexAsync(RegistryServer registry, string repository, string tag, string[] platforms, string[] alsoTagged)
    {
        var served = await RegistryContent.GetManifestAsync(registry, repository, tag, Cancel) ?? throw new AssertFailedException($"{repository}:{tag} was not pushed");
        using var json = JsonDocument.Parse(served.Bytes);
        var entries = json.RootElement.GetProperty("manifests").EnumerateArray()
            .Select(m => m.GetProperty("platform"))
            .Select(p => string.Join('/', new[] { p.GetProperty("os").GetString(), p.GetProperty("architecture").GetString(), p.TryGetProperty("variant", out var v) ? v.GetString() : null }.OfType<string>()))
            .ToArray();
        CollectionAssert.AreEqual(platforms, entries, $"{repository}:{tag}");
        foreach (var other in alsoTagged)
        {
            Assert.AreEqual(served.Digest.ToString(), await RegistryContent.ResolveAsync(registry, repository, other, Cancel), $"{repository}:{other} points at the index");
        }

        return served.Digest.ToString();
    }

    // ------------------------------------------------------------------------------------------------ reading the README

    private sealed record ShellCommand(string Section, string Text)
    {
        public override string ToString() => $"README, {Section}: {Text.Split('\n')[0]}";
    }

    private static string Readme() => File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).Replace("\r\n", "\n", StringComparison.Ordinal);

    /// <summary>
    /// Every <c>dotnet</c> command in a <c>bash</c> block (with its <c>\</c> continuation lines), and every <c>$ dotnet</c>
    /// line of an example block, with the <c>##</c> section it is in.
    /// </summary>
    private static List<ShellCommand> ShellCommands()
    {
        var commands = new List<ShellCommand>();
        string section = string.Empty;
        string? fence = null;
        var lines = Readme().Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (fence is null)
            {
                if (line.StartsWith("```", StringComparison.Ordinal))
                {
                    fence = line[3..].Trim();
                }
                else if (line.StartsWith("## ", StringComparison.Ordinal))
                {
                    section = line[3..].Trim();
                }

                continue;
            }

            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                fence = null;
                continue;
            }

            var text = fence == "bash" && line.StartsWith("dotnet ", StringComparison.Ordinal) ? line
                : line.StartsWith("$ dotnet ", StringComparison.Ordinal) ? line[2..]
                : null;
            if (text is null)
            {
                continue;
            }

            while (text.EndsWith('\\') && i + 1 < lines.Length)
            {
                text += "\n" + lines[++i];
            }

            commands.Add(new ShellCommand(section, text));
        }

        return commands;
    }

    /// <summary>The first block of <paramref name="language"/> after the line that starts with <paramref name="heading"/>.</summary>
    private static string Block(string readme, string heading, string language)
    {
        var start = readme.IndexOf("\n" + heading, StringComparison.Ordinal);
        Assert.IsGreaterThanOrEqualTo(0, start, heading);
        var match = new Regex($"```{language}\n(?<body>.*?)```", RegexOptions.Singleline).Match(readme, start);
        Assert.IsTrue(match.Success, $"a {language} block after {heading}");
        return match.Groups["body"].Value;
    }

    private static Dictionary<string, YamlMappingNode> Recipes()
    {
        var recipes = new Dictionary<string, YamlMappingNode>(StringComparer.Ordinal);
        foreach (Match match in RecipeBlock().Matches(Readme()))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(match.Groups["yaml"].Value));
            recipes[match.Groups["title"].Value.Trim()] = (YamlMappingNode)stream.Documents[0].RootNode;
        }

        return recipes;
    }

    private sealed record Job(string Name, IReadOnlyDictionary<string, string> Variables, IReadOnlyList<string> Steps);

    /// <summary>The jobs of a recipe in order, a matrix job once per leg, each with its <c>run:</c>/<c>script:</c> steps.</summary>
    private static List<Job> Jobs(YamlMappingNode recipe, bool github)
    {
        var jobNodes = recipe.Children.TryGetValue(new YamlScalarNode("jobs"), out var jobsNode)
            ? jobsNode switch
            {
                YamlMappingNode map => map.Children.Select(j => (Name: ((YamlScalarNode)j.Key).Value!, Node: (YamlMappingNode)j.Value)).ToList(),
                YamlSequenceNode list => list.Children.Cast<YamlMappingNode>().Select(j => (Name: Scalar(j, "job")!, Node: j)).ToList(),
                _ => throw new AssertFailedException("jobs is neither a map nor a list"),
            }
            : [(Name: "job", Node: recipe)];

        var jobs = new List<Job>();
        foreach (var (name, node) in jobNodes)
        {
            var steps = ((YamlSequenceNode)node.Children[new YamlScalarNode("steps")]).Children.Cast<YamlMappingNode>()
                .Select(step => Scalar(step, github ? "run" : "script"))
                .OfType<string>()
                .ToList();
            foreach (var (leg, variables) in MatrixLegs(node, github))
            {
                jobs.Add(new Job(leg is null ? name : $"{name} ({leg})", variables, steps));
            }
        }

        return jobs;
    }

    private static IEnumerable<(string? Leg, Dictionary<string, string> Variables)> MatrixLegs(YamlMappingNode job, bool github)
    {
        if (!job.Children.TryGetValue(new YamlScalarNode("strategy"), out var strategy))
        {
            yield return (null, []);
            yield break;
        }

        var matrix = (YamlMappingNode)((YamlMappingNode)strategy).Children[new YamlScalarNode("matrix")];
        var legs = github
            ? ((YamlSequenceNode)matrix.Children[new YamlScalarNode("include")]).Children.Cast<YamlMappingNode>().Select(leg => (Name: (string?)null, Leg: leg))
            : matrix.Children.Select(leg => (Name: (string?)((YamlScalarNode)leg.Key).Value, Leg: (YamlMappingNode)leg.Value));
        foreach (var (legName, leg) in legs)
        {
            var variables = leg.Children.ToDictionary(v => ((YamlScalarNode)v.Key).Value!, v => ((YamlScalarNode)v.Value).Value!, StringComparer.Ordinal);
            yield return (legName ?? string.Join(", ", variables.Values), variables);
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? ((YamlScalarNode)value).Value : null;

    /// <summary>What the runner puts in place of <c>${{ … }}</c> for a push of tag <paramref name="gitTag"/>; anything else fails the test.</summary>
    private static string GitHubExpressions(string step, IReadOnlyDictionary<string, string> matrix, string gitTag, string repository, RegistryServer registry) =>
        GitHubExpression().Replace(step, match => match.Groups["name"].Value switch
        {
            "github.ref_name" => gitTag,
            "github.repository" => repository,
            "github.actor" => registry.Username!,
            "secrets.GITHUB_TOKEN" => registry.Password!,
            var name when name.StartsWith("matrix.", StringComparison.Ordinal) => matrix[name["matrix.".Length..]],
            var name => throw new AssertFailedException($"the test does not know the expression {name} in: {step}"),
        });

    /// <summary>What Azure Pipelines puts in place of <c>$(…)</c> macros before the script runs; anything else fails the test.</summary>
    private static string AzureMacros(string step, IReadOnlyDictionary<string, string> variables, string gitTag) =>
        AzureMacro().Replace(step, match => match.Groups["name"].Value switch
        {
            "Build.SourceBranchName" => gitTag,
            var name when variables.TryGetValue(name, out var value) => value,
            var name => throw new AssertFailedException($"the test does not know the macro $({name}) in: {step}"),
        });

    [GeneratedRegex(@"### (?<title>(GitHub Actions|Azure Pipelines):[^\n]*)\n\n```yaml\n(?<yaml>.*?)```", RegexOptions.Singleline)]
    private static partial Regex RecipeBlock();

    [GeneratedRegex(@"\$\{\{\s*(?<name>[A-Za-z0-9_.]+)\s*\}\}")]
    private static partial Regex GitHubExpression();

    [GeneratedRegex(@"\$\((?<name>[A-Za-z0-9_.]+)\)")]
    private static partial Regex AzureMacro();

    /// <summary>A command-line switch a message suggests: <c>'-p:…'</c> as a whole, or a bare <c>-p:Name=value</c>.</summary>
    [GeneratedRegex(@"'-p:[^']+'|(?<!')-p:[A-Za-z]+=[^\s'""<]+")]
    private static partial Regex SuggestedSwitch();
}
