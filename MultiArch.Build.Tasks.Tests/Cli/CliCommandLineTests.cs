using MultiArch.Build.Tasks.Specs;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Cli;

/// <summary>
/// The <c>multiarch</c> command line, in-process and without a registry: help, version, usage errors with their
/// MULTIARCH5xxx codes, and the same coded errors as the tasks for bad input found before the first request.
/// </summary>
[TestClass]
public sealed class CliCommandLineTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("--help")]
    [DataRow("-h")]
    [DataRow("help")]
    [DataRow()]
    public async Task HelpListsTheCommandsAndGlobalOptions(params string[] arguments)
    {
        var run = (await CliRun.InProcessAsync(arguments)).ShouldSucceed();
        foreach (var text in new[] { "USAGE:\n   multiarch [global options] command [command options] [arguments...]", "   inspect ", "   push ", "   test-registry ", "--debug", "--insecure", "--plain-http", "--username value", "--password value", "--docker-cfg value", "--version, -v" })
        {
            Assert.Contains(text, run.Stdout, run.Describe(text));
        }
    }

    [TestMethod]
    [DataRow("inspect --help", "--raw", "--expand-config", "--format value", "--required-platforms value")]
    [DataRow("help inspect", "--raw", "--expand-config")]
    [DataRow("push --help", "from-spec", "from-args", "--type value")]
    [DataRow("push from-spec --help", "--ignore-missing", "--dry-run", "--digest-file value")]
    [DataRow("push from-args -h", "--platforms value [ --platforms value ]", "--template value", "--target value", "--tags value [ --tags value ]", "--annotations value")]
    [DataRow("--help test-registry", "--require value", "--report value", "--no-cleanup")]
    public async Task CommandHelpListsTheCommandsOptions(string commandLine, params string[] expected)
    {
        var run = (await CliRun.InProcessAsync(commandLine.Split(' '))).ShouldSucceed();
        foreach (var text in expected)
        {
            Assert.Contains(text, run.Stdout, run.Describe(text));
        }
    }

    [TestMethod]
    [DataRow("--version")]
    [DataRow("-v")]
    [DataRow("inspect --version")]
    public async Task VersionPrintsThePackageVersion(string commandLine)
    {
        var run = (await CliRun.InProcessAsync(commandLine.Split(' '))).ShouldSucceed();
        Assert.MatchesRegex(@"^multiarch version \d+\.\d+\.\d+\S*\n$", run.Stdout);
    }

    [TestMethod]
    [DataRow("inspect", "MULTIARCH5006")]
    [DataRow("inspect a:1 b:2", "MULTIARCH5007")]
    [DataRow("inspect --bogus a:1", "MULTIARCH5001")]
    [DataRow("inspect a:1 --format", "MULTIARCH5002")]
    [DataRow("inspect a:1 --raw=maybe", "MULTIARCH5003")]
    [DataRow("frobnicate a:1", "MULTIARCH5004")]
    [DataRow("push a.yaml", "MULTIARCH5004")]
    [DataRow("push from-spec --raw spec.yaml", "MULTIARCH5005")]
    [DataRow("inspect --tags x a:1", "MULTIARCH5005")]
    [DataRow("push from-spec", "MULTIARCH5006")]
    [DataRow("push from-args --platforms linux/amd64 --template r/a:ARCH extra", "MULTIARCH5007")]
    [DataRow("push from-args --platforms linux/amd64 --template r/a:ARCH", "MULTIARCH5008")]
    [DataRow("push from-args --template r/a:ARCH --target r/a:1", "MULTIARCH5008")]
    [DataRow("push from-args --platforms linux/amd64 --target r/a:1", "MULTIARCH5008")]
    [DataRow("--docker-cfg /nonexistent/docker-config inspect localhost:1/a:1", "MULTIARCH5009")]
    [DataRow("inspect --expand-config localhost:1/a:1", "MULTIARCH5010")]
    [DataRow("inspect --raw --format json localhost:1/a:1", "MULTIARCH5011")]
    [DataRow("push --type bogus from-args --platforms linux/amd64 --template r/a:ARCH --target r/a:1", "MULTIARCH5003")]
    [DataRow("test-registry localhost:1/repo --format yaml", "MULTIARCH5003")]
    [DataRow("inspect localhost:1/a:1 --format yaml", "MULTIARCH4001")]
    [DataRow("inspect Not/A/Valid:Reference", "MULTIARCH2001")]
    [DataRow("inspect localhost:1/a:1 --required-platforms linux", "MULTIARCH2009")]
    [DataRow("push from-args --platforms linux/amd64 --template r/a:ARCH --target r/a:1 --annotations novalue", "MULTIARCH4006")]
    [DataRow("test-registry localhost:1/repo:tag", "MULTIARCH4021")]
    [DataRow("test-registry localhost:1/repo --require Teleport", "MULTIARCH4020")]
    public async Task BadCommandLinesFailWithACodeBeforeAnyRequest(string commandLine, string code)
    {
        var run = await CliRun.InProcessAsync(commandLine.Split(' '));
        run.ShouldFailWith(code);
        Assert.AreEqual(string.Empty, run.Stdout, run.Describe("nothing on stdout"));
        Assert.DoesNotContain("MULTIARCH1", run.Stderr, run.Describe("no registry error: nothing was sent"));
    }

    [TestMethod]
    public async Task EveryInvalidSpecGetsTheTasksCodeWithoutAStackTrace()
    {
        var files = Directory.GetFiles(Path.Combine(RepoPaths.TestAssets, "specs", "invalid"));
        Assert.IsGreaterThan(50, files.Length);
        foreach (var file in files)
        {
            var expected = Assert.ThrowsExactly<MultiArchException>(() => ManifestSpecReader.ReadFile(file), file);
            var run = await CliRun.InProcessAsync(null, TestContext.CancellationToken, "push", "from-spec", file);
            run.ShouldFailWith(expected.Code);
            Assert.Contains(expected.Message, run.Stderr, run.Describe("the reader's message"));
        }
    }

    [TestMethod]
    public void TheToolNeverReferencesMSBuild()
    {
        // The core is compiled into the tool from the task assembly's folders except Tasks/: nothing may pull MSBuild in.
        var references = typeof(MultiArch.Tool.Cli).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.IsFalse(references.Any(n => n.StartsWith("Microsoft.Build", StringComparison.Ordinal)), string.Join(", ", references));
        Assert.IsFalse(references.Contains("MultiArch.Build.Tasks"), "one implementation, compiled in, not the task assembly loaded beside it");
    }

    [TestMethod]
    public async Task OptionsAreAcceptedInAnyPosition()
    {
        // manifest-tool takes global options only before the command and command options only before the argument;
        // every order reaches the same check here (the missing --target), none is an unknown option.
        string[][] orders =
        [
            ["--debug", "push", "--type", "oci", "from-args", "--platforms", "linux/amd64", "--template", "r/a:ARCH"],
            ["push", "from-args", "--template", "r/a:ARCH", "--debug", "--platforms=linux/amd64", "--type=oci"],
            ["push", "--platforms", "linux/amd64", "from-args", "--type", "oci", "--template", "r/a:ARCH", "--debug"],
            ["-debug", "push", "from-args", "-platforms", "linux/amd64", "-template", "r/a:ARCH", "-type", "oci"],
        ];
        foreach (var order in orders)
        {
            (await CliRun.InProcessAsync(order)).ShouldFailWith("MULTIARCH5008");
        }
    }
}
