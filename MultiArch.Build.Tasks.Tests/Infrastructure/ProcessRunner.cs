using System.Diagnostics;
using System.Text;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>The outcome of a finished child process.</summary>
internal sealed record ProcessResult(string FileName, IReadOnlyList<string> Arguments, int ExitCode, byte[] StandardOutput, string StandardError)
{
    public string StandardOutputText => Encoding.UTF8.GetString(StandardOutput);

    /// <summary>The command line, for messages: arguments quoted naively, the password after any <c>--*creds</c> option replaced by <c>***</c>.</summary>
    public string CommandLine => FileName + " " + string.Join(' ', Arguments.Select((argument, i) => Display(argument, i > 0 ? Arguments[i - 1] : null)));

    /// <summary>Throws <see cref="InvalidOperationException"/> with the command line, stderr and stdout unless the exit code is 0.</summary>
    public ProcessResult EnsureSuccess() => ExitCode == 0
        ? this
        : throw new InvalidOperationException($"'{CommandLine}' failed with exit code {ExitCode}. stderr:\n{StandardError}\nstdout:\n{StandardOutputText}");

    private static string Display(string argument, string? previous)
    {
        if (previous is not null && previous.StartsWith("--", StringComparison.Ordinal) && previous.EndsWith("creds", StringComparison.Ordinal))
        {
            var colon = argument.IndexOf(':', StringComparison.Ordinal);
            argument = colon < 0 ? argument : argument[..(colon + 1)] + "***";
        }

        return argument.Contains(' ', StringComparison.Ordinal) ? $"'{argument}'" : argument;
    }
}

/// <summary>Runs short-lived tools (skopeo, htpasswd) with a timeout and captures their output as bytes.</summary>
internal static class ProcessRunner
{
    /// <summary>
    /// Runs <paramref name="fileName"/> to completion. The child gets the current environment minus every
    /// <c>REGISTRY_*</c> variable, then <paramref name="environment"/> on top (a null value removes a variable).
    /// On timeout or cancellation the whole process tree is killed and <see cref="TimeoutException"/> /
    /// <see cref="OperationCanceledException"/> is thrown with what the tool printed so far.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null,
        CancellationToken cancellationToken = default)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        ApplyEnvironment(startInfo, environment);

        using var process = new Process { StartInfo = startInfo };
        process.Start();
        process.StandardInput.Close();
        var stdout = new MemoryStream();
        var stdoutTask = process.StandardOutput.BaseStream.CopyToAsync(stdout, CancellationToken.None);
        var stderrTask = process.StandardError.ReadToEndAsync(CancellationToken.None);

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            await process.WaitForExitAsync(CancellationToken.None);
            var partial = await stderrTask;
            await stdoutTask;
            var commandLine = new ProcessResult(fileName, arguments, -1, [], partial).CommandLine;
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"'{commandLine}' did not finish within {timeout.TotalSeconds:0.#} s and was killed. Its stderr so far:\n{partial}\nIts stdout so far:\n{Encoding.UTF8.GetString(stdout.ToArray())}");
        }

        await stdoutTask;
        var stderr = await stderrTask;
        return new ProcessResult(fileName, arguments, process.ExitCode, stdout.ToArray(), stderr);
    }

    /// <summary>Runs a tool and throws <see cref="InvalidOperationException"/> with its stderr when it exits non-zero.</summary>
    public static async Task<ProcessResult> RunCheckedAsync(
        string fileName,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(fileName, arguments, timeout, environment, cancellationToken: cancellationToken);
        return result.EnsureSuccess();
    }

    /// <summary>Removes every <c>REGISTRY_*</c> variable (they override a registry's config and skopeo's auth file), then applies overrides.</summary>
    public static void ApplyEnvironment(ProcessStartInfo startInfo, IReadOnlyDictionary<string, string?>? environment)
    {
        foreach (var name in startInfo.Environment.Keys.Where(k => k.StartsWith("REGISTRY_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            startInfo.Environment.Remove(name);
        }

        if (environment is null)
        {
            return;
        }

        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                startInfo.Environment.Remove(name);
            }
            else
            {
                startInfo.Environment[name] = value;
            }
        }
    }

    public static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
    }
}
