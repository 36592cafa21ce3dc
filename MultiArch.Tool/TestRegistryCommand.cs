using System.Text;
using MultiArch.Build.Tasks;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.RegistryTest;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Tool;

/// <summary>
/// <c>multiarch test-registry REGISTRY/REPOSITORY</c>: the TestContainerRegistry task's work
/// (<see cref="RegistryCapabilityTester"/>): the same table (or, with <c>--format json</c>, the same JSON report) on
/// stdout; exit code 1 when a required capability is missing.
/// </summary>
internal static class TestRegistryCommand
{
    public static async Task<int> RunAsync(CommandLine line, TextWriter stdout, ConsoleLog log, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        // Every input is checked before the first request.
        var (repository, source) = RegistryTestInputs.ParseRepositories(line.SingleArgument("REGISTRY/REPOSITORY"), line.Value("source-repository"));
        var required = RegistryTestInputs.ParseRequired(line.List("require"));
        var format = line.Value("format")?.Trim().ToLowerInvariant() ?? "text";
        if (format is not ("text" or "json"))
        {
            throw MultiArchException.Create(MessageId.CliInvalidOptionValue, "--format", line.Value("format"), "text or json");
        }

        var reportFile = line.Value("report");
        OutputFiles.CheckWritable(reportFile, "--report");
        var cleanup = !line.Has("no-cleanup");
        var options = new RegistryTestOptions(repository, source) { Cleanup = cleanup, Required = required };
        using var client = new RegistryClient(Cli.CreateSettings(line, environment, log, repository));
        var report = await new RegistryCapabilityTester(client, log).RunAsync(options, cancellationToken);

        await stdout.WriteAsync(format == "json" ? Encoding.UTF8.GetString(report.ToJson()) : report.FormatTable().TrimEnd('\n') + "\n");
        await stdout.FlushAsync(cancellationToken);
        if (!string.IsNullOrEmpty(reportFile))
        {
            await OutputFiles.WriteAsync(reportFile, report.ToJson(), cancellationToken);
        }

        if (report.LeftBehindWarning() is { } leftBehind)
        {
            log.Warning(leftBehind.Code, leftBehind.Text);
        }

        log.Message(LogLevel.High, report.Summary(reportFile));
        if (report.MissingRequired.Count == 0)
        {
            return 0;
        }

        // Every missing capability gets its own coded line, as the task logs one error each.
        foreach (var missing in report.MissingRequired.Skip(1))
        {
            var (code, text) = RegistryTestInputs.MissingCapability(repository, missing);
            log.Message(LogLevel.High, $"error {code}: {text}");
        }

        var (firstCode, firstText) = RegistryTestInputs.MissingCapability(repository, report.MissingRequired[0]);
        throw new MultiArchException(firstCode, firstText);
    }
}
