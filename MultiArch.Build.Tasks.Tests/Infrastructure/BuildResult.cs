using System.Text;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// One finished child build of a <see cref="TestProject"/>: exit code, console text, time and binary log. The
/// <c>Should…</c> helpers fail the test with <see cref="Report"/>: the command, the console and the path of a copy of the
/// binary log that outlives the run.
/// </summary>
internal sealed record BuildResult(TestProject Project, string CommandLine, int ExitCode, string Output, string StandardError, TimeSpan Elapsed, string BinlogPath)
{
    /// <summary>Where failed builds' binary logs and console text are kept: <c>artifacts/test-logs/</c>.</summary>
    public static string KeptLogsDirectory => Path.Combine(RepoPaths.Root, "artifacts", "test-logs");

    public bool Succeeded => ExitCode == 0;

    /// <summary>stdout then stderr (MSBuild writes errors to stdout; the dotnet CLI some of its own to stderr).</summary>
    public string Console => StandardError.Length == 0 ? Output : Output + "\n" + StandardError;

    public BuildResult ShouldSucceed()
    {
        if (!Succeeded)
        {
            Assert.Fail($"The build failed with exit code {ExitCode}.\n{Report()}");
        }

        return this;
    }

    /// <summary>A non-zero exit with <c>error CODE:</c> in the console.</summary>
    public BuildResult ShouldFailWith(string code)
    {
        if (Succeeded || !Console.Contains($"error {code}: ", StringComparison.Ordinal))
        {
            Assert.Fail($"Expected the build to fail with {code}; exit code {ExitCode}.\n{Report()}");
        }

        return this;
    }

    public BuildResult ShouldContain(string text)
    {
        if (!Console.Contains(text, StringComparison.Ordinal))
        {
            Assert.Fail($"The console lacks '{text}'.\n{Report()}");
        }

        return this;
    }

    public BuildResult ShouldNotContain(string text, string what)
    {
        if (Console.Contains(text, StringComparison.Ordinal))
        {
            Assert.Fail($"The console contains {what} ('{text}').\n{Report()}");
        }

        return this;
    }

    /// <summary>No .NET stack-trace frame (<c>"   at "</c>) anywhere in the console.</summary>
    public BuildResult ShouldShowNoStackTrace() => ShouldNotContain("   at ", "a stack trace");

    /// <summary>
    /// Copies the binary log and the console text to <see cref="KeptLogsDirectory"/> (the run's temp folder is deleted
    /// after the last test); returns the path of the binary log's copy.
    /// </summary>
    public string KeepLogs()
    {
        var kept = Path.Combine(KeptLogsDirectory, Project.Name + "-" + Path.GetFileNameWithoutExtension(BinlogPath) + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(KeptLogsDirectory);
        File.WriteAllText(kept + ".log", $"{CommandLine}\nExit code: {ExitCode}\n{Console}");
        try
        {
            File.Copy(BinlogPath, kept + ".binlog", overwrite: true);
            return kept + ".binlog";
        }
        catch (IOException ex)
        {
            return $"{BinlogPath} (not copied: {ex.Message})";
        }
    }

    /// <summary>Keeps the logs (<see cref="KeepLogs"/>) and describes the run: command, exit code, time, kept binary log, console.</summary>
    public string Report() => new StringBuilder()
        .AppendLine($"Command: {CommandLine}")
        .AppendLine($"Exit code: {ExitCode}, {Elapsed.TotalSeconds:0.0} s, in {Project.Directory}")
        .AppendLine($"Binary log: {KeepLogs()}")
        .AppendLine("Console:")
        .AppendLine(Console)
        .ToString();
}
