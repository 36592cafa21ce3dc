using System.Text.RegularExpressions;
using MultiArch.Tool;

namespace MultiArch.Build.Tasks.Tests.Cli;

/// <summary>What one <c>multiarch</c> command line printed and returned.</summary>
internal sealed partial record CliRun(IReadOnlyList<string> Arguments, int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Runs the tool's entry point in-process, with only the variables given (no HOME, no docker config of the machine).</summary>
    public static async Task<CliRun> InProcessAsync(IReadOnlyDictionary<string, string?>? environment, CancellationToken cancellationToken, params string[] arguments)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var variables = environment ?? new Dictionary<string, string?>();
        var exitCode = await MultiArch.Tool.Cli.RunAsync(arguments, stdout, stderr, name => variables.TryGetValue(name, out var value) ? value : null, cancellationToken);
        return new CliRun(arguments, exitCode, stdout.ToString(), stderr.ToString());
    }

    public static Task<CliRun> InProcessAsync(params string[] arguments) => InProcessAsync(null, CancellationToken.None, arguments);

    public CliRun ShouldSucceed()
    {
        Assert.AreEqual(0, ExitCode, Describe("exit code 0"));
        Assert.DoesNotContain("error ", Stderr, Describe("no error on stderr"));
        return this;
    }

    /// <summary>Exit code 1 and the coded error as the only error line on stderr, with nothing like a stack trace.</summary>
    public CliRun ShouldFailWith(string code)
    {
        Assert.AreEqual(1, ExitCode, Describe("exit code 1"));
        var errors = Stderr.Split('\n').Where(l => l.StartsWith("error ", StringComparison.Ordinal)).ToList();
        Assert.IsNotEmpty(errors, Describe("an error line on stderr"));
        Assert.StartsWith($"error {code}: ", errors[^1], Describe(code));
        ShouldShowNoStackTrace();
        return this;
    }

    public CliRun ShouldShowNoStackTrace()
    {
        Assert.IsFalse(StackFrame().IsMatch(Stderr + Stdout), Describe("no stack trace"));
        Assert.DoesNotContain("   at MultiArch.", Stderr, Describe("no frames of ours"));
        return this;
    }

    public string Describe(string expectation) =>
        $"expected {expectation}: multiarch {string.Join(' ', Arguments)}\nexit code {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";

    [GeneratedRegex(@"^\s+at \S+", RegexOptions.Multiline)]
    private static partial Regex StackFrame();
}
