using System.Text;
using System.Text.RegularExpressions;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// What a person sees: the README's commands typed into a real pseudo-terminal (a private tmux server), where
/// <c>dotnet</c> uses the terminal logger, as it does by default on an interactive terminal; and what a CI script reads
/// from standard output.
/// </summary>
[TestClass]
public sealed class TerminalOutputTests
{
    private static readonly TimeSpan s_commandTimeout = TimeSpan.FromMinutes(3);
    private static TestProject? s_project;
    private static RegistryServer? s_registry;
    private static string s_repository = string.Empty;

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [ClassInitialize]
    public static async Task InitializeAsync(TestContext context)
    {
        s_registry = await TestRegistries.Open;
        s_repository = TestNames.Repository("terminal");
        await SkopeoPusher.PushAsync(s_registry, s_repository, "src-linux-amd64", TestImages.Image(TestImages.LinuxAmd64, "terminal"), context.CancellationToken);
        await SkopeoPusher.PushAsync(s_registry, s_repository, "src-linux-arm64", TestImages.Image(TestImages.LinuxArm64, "terminal"), context.CancellationToken);
        await SkopeoPusher.PushAsync(s_registry, s_repository, "index", TestImages.Index(TestImages.LinuxPlatforms, "terminal"), context.CancellationToken);
        s_project = await TestProject.CreateAsync("terminal", cancellationToken: context.CancellationToken);
    }

    private static string Reference(string tag) => s_registry!.Reference(s_repository, tag);

    [TestMethod]
    public async Task Inspect_OnATerminal_ShowsTheResultWithGetProperty_AndOnlyBuildSucceededWithout()
    {
        await using var terminal = await Terminal.StartAsync(s_project!.Directory, Environment(), Cancel);

        var plain = await terminal.RunAsync($"dotnet msbuild -t:InspectContainerImage -p:ContainerInspectImage={Reference("index")}", s_commandTimeout, Cancel);
        StringAssert.Contains(plain, "Build succeeded", "the terminal logger ran\n" + plain);
        Assert.DoesNotContain("Name:   ", plain, "the terminal logger hides build messages, as the README says\n" + plain);

        var shown = await terminal.RunAsync($"dotnet msbuild -t:InspectContainerImage -p:ContainerInspectImage={Reference("index")} -getProperty:ContainerInspectOutput", s_commandTimeout, Cancel);
        StringAssert.Contains(shown, $"Name:   {Reference("index")} (Type: application/vnd.oci.image.index.v1+json)", shown);
        StringAssert.Contains(shown, "Contains 3 manifest references", shown);
        Assert.MatchesRegex(@"Digest: sha256:[0-9a-f]{64}", shown);
        StringAssert.Contains(shown, "exit 0", shown);
    }

    [TestMethod]
    public async Task Push_OnATerminal_ShowsWhatItPushedAndTheDigest()
    {
        await using var terminal = await Terminal.StartAsync(s_project!.Directory, Environment(), Cancel);
        var target = Reference("pushed-1.0");

        var screen = await terminal.RunAsync(
            $"dotnet msbuild -t:PushContainerManifestList '-p:ContainerManifestPlatforms=\"linux/amd64,linux/arm64\"' " +
            $"-p:ContainerManifestTemplate={Reference("src-OS-ARCH")} -p:ContainerManifestTarget={target} -p:ContainerManifestTags=pushed-latest " +
            "-getProperty:ContainerManifestPushedReferences",
            s_commandTimeout,
            Cancel);

        var digest = await RegistryContent.ResolveAsync(s_registry!, s_repository, "pushed-1.0", Cancel) ?? throw new AssertFailedException("nothing was pushed\n" + screen);
        StringAssert.Contains(screen, $"{target}@{digest}", screen);
        StringAssert.Contains(screen, $"{Reference("pushed-latest")}@{digest}", screen);
        StringAssert.Contains(screen, "exit 0", screen);
    }

    [TestMethod]
    public async Task Publish_OnATerminal_ShowsWhatItPushedAndTheDigest()
    {
        var registry = s_registry!;
        var baseRepository = TestNames.Repository("terminal-base");
        await SkopeoPusher.PushAsync(registry, baseRepository, "1", TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "terminal-base"), Cancel);
        var repository = TestNames.Repository("terminal-publish");
        var app = await TestProject.CreateAsync("terminal-publish", $"""
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>
                <ContainerRegistry>{registry.Host}</ContainerRegistry>
                <ContainerRepository>{repository}</ContainerRepository>
                <ContainerBaseImage>{registry.Reference(baseRepository, "1")}</ContainerBaseImage>
                <ContainerImageTags>1.0.0;latest</ContainerImageTags>
              </PropertyGroup>
            """, Cancel);
        File.Copy(Path.Combine(RepoPaths.TestAssets, "SampleApp", "Program.cs"), Path.Combine(app.Directory, "Program.cs"));
        await using var terminal = await Terminal.StartAsync(app.Directory, Environment(), Cancel);

        // The README's command, as typed.
        var screen = await terminal.RunAsync("dotnet publish -t:PublishMultiArchContainer -getProperty:ContainerManifestPushedReferences", s_commandTimeout, Cancel);

        var digest = await RegistryContent.ResolveAsync(registry, repository, "1.0.0", Cancel) ?? throw new AssertFailedException("nothing was pushed\n" + screen);
        StringAssert.Contains(screen, $"{registry.Reference(repository, "1.0.0")}@{digest}", screen);
        StringAssert.Contains(screen, $"{registry.Reference(repository, "latest")}@{digest}", screen);
        StringAssert.Contains(screen, "exit 0", screen);
    }

    [TestMethod]
    public async Task Raw_OnATerminalWithoutAFile_SaysWhereTheExactBytesAre()
    {
        await using var terminal = await Terminal.StartAsync(s_project!.Directory, Environment(), Cancel);

        var screen = await terminal.RunAsync($"dotnet msbuild -t:InspectContainerImage -p:ContainerInspectImage={Reference("index")} -p:ContainerInspectFormat=raw -tl:off", s_commandTimeout, Cancel);

        var served = await RegistryContent.GetManifestAsync(s_registry!, s_repository, "index", Cancel);
        StringAssert.Contains(screen, $"The lines above are the registry's {served!.Bytes.Length} bytes (digest {served.Digest})", screen);
        StringAssert.Contains(screen, "-p:ContainerInspectOutputFile=manifest.json", screen);
    }

    [TestMethod]
    public async Task Scripts_ReadTheDigestFromStandardOutput_WithoutParsingALog()
    {
        // As the README shows: digest=$(dotnet msbuild … -getProperty:ContainerManifestDigest)
        var script = $"""
            digest=$(dotnet msbuild -t:PushContainerManifestList -p:ContainerManifestPlatforms=linux/amd64 -p:ContainerManifestTemplate={Reference("src-OS-ARCH")} -p:ContainerManifestTarget={Reference("script-1.0")} -getProperty:ContainerManifestDigest)
            printf '%s' "$digest" > digest.txt
            dotnet msbuild -t:InspectContainerImage -p:ContainerInspectImage={Reference("index")} -p:ContainerInspectFormat=raw -getProperty:ContainerInspectOutput > raw.txt
            """;
        var result = await ProcessRunner.RunAsync("bash", ["-e", "-c", script], s_commandTimeout, Environment(), s_project!.Directory, Cancel);
        result.EnsureSuccess();

        var pushed = await RegistryContent.ResolveAsync(s_registry!, s_repository, "script-1.0", Cancel);
        Assert.AreEqual(pushed, await File.ReadAllTextAsync(Path.Combine(s_project.Directory, "digest.txt"), Cancel), "the digest alone, nothing else");
        var served = await RegistryContent.GetManifestAsync(s_registry!, s_repository, "index", Cancel);
        CollectionAssert.AreEqual(
            served!.Bytes.Concat("\n"u8.ToArray()).ToArray(),
            await File.ReadAllBytesAsync(Path.Combine(s_project.Directory, "raw.txt"), Cancel),
            "-getProperty prints the registry's bytes followed by one line end");
    }

    private static Dictionary<string, string?> Environment()
    {
        var environment = TestProject.ChildEnvironment(TestProject.RegistryEnvironment(s_registry!));
        // A terminal on a developer's machine: no CI markers, a terminal type the logger knows.
        foreach (var ci in new[] { "CI", "TF_BUILD", "GITHUB_ACTIONS", "BUILD_BUILDID", "JENKINS_URL", "NO_COLOR" })
        {
            environment[ci] = null;
        }

        environment["TERM"] = "xterm-256color";
        return environment;
    }

    /// <summary>A shell in a pseudo-terminal of a private tmux server (its own socket), 200 columns by 50 lines.</summary>
    private sealed class Terminal : IAsyncDisposable
    {
        private readonly string _socket;
        private readonly IReadOnlyDictionary<string, string?> _environment;
        private int _commands;

        private Terminal(string socket, IReadOnlyDictionary<string, string?> environment)
        {
            _socket = socket;
            _environment = environment;
        }

        public static async Task<Terminal> StartAsync(string directory, IReadOnlyDictionary<string, string?> environment, CancellationToken cancellationToken)
        {
            var terminal = new Terminal("multiarch-test-" + Guid.NewGuid().ToString("N")[..12], environment);
            await terminal.TmuxAsync(["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", "-c", directory, "bash --norc --noprofile"], cancellationToken);
            await terminal.TmuxAsync(["set-option", "-g", "history-limit", "10000"], cancellationToken);
            return terminal;
        }

        /// <summary>Types <paramref name="command"/> and Enter, waits for it to end, returns everything it put on the screen (then "exit N").</summary>
        public async Task<string> RunAsync(string command, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var marker = $"__done_{++_commands}__";
            await TmuxAsync(["send-keys", "-t", "t", command + $"; echo \"{marker} exit $?\"", "Enter"], cancellationToken);
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var screen = await CaptureAsync(cancellationToken);
                var done = Regex.Match(screen, Regex.Escape(marker) + @" exit \d+");
                if (done.Success)
                {
                    // What the command printed: from the line after the one typed to the marker.
                    var typed = screen.IndexOf("echo \"" + marker, StringComparison.Ordinal);
                    var start = typed < 0 ? 0 : screen.IndexOf('\n', typed) + 1;
                    return screen[start..done.Index] + done.Value[(marker.Length + 1)..];
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"'{command}' did not finish within {timeout.TotalSeconds:0} s. Screen:\n{screen}");
                }

                await Task.Delay(250, cancellationToken);
            }
        }

        private async Task<string> CaptureAsync(CancellationToken cancellationToken)
        {
            var result = await TmuxAsync(["capture-pane", "-p", "-J", "-S", "-", "-t", "t"], cancellationToken);
            return result.StandardOutputText;
        }

        private async Task<ProcessResult> TmuxAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
        {
            var result = await ProcessRunner.RunAsync("tmux", ["-L", _socket, .. arguments], TimeSpan.FromSeconds(30), _environment, cancellationToken: cancellationToken);
            return result.EnsureSuccess();
        }

        public async ValueTask DisposeAsync()
        {
            await ProcessRunner.RunAsync("tmux", ["-L", _socket, "kill-server"], TimeSpan.FromSeconds(30), _environment);
        }
    }
}
