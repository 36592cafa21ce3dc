using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Task = System.Threading.Tasks.Task;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.RegistryTest;

namespace MultiArch.Build.Tasks.Tasks;

/// <summary>
/// Checks what a registry supports (manifest lists, OCI indexes, annotations, mounts, referrers, DELETE …) by pushing
/// tiny images it makes itself into <see cref="Repository"/>, then deleting them. Logs a table, writes a JSON report,
/// and fails with <c>MULTIARCH1017</c> for each capability in <see cref="Require"/> that is not supported.
/// </summary>
public sealed class TestContainerRegistry : MultiArchTask
{
    /// <summary><c>registry/repository</c> to test in (no tag). Not <c>[Required]</c>: a missing value gets <c>MULTIARCH4019</c>, which says how to set it.</summary>
    public string? Repository { get; set; }

    /// <summary>A second repository path on the same registry, for the cross-repository checks (default: <c>&lt;repository&gt;-source</c>).</summary>
    public string? SourceRepository { get; set; }

    /// <summary>Capabilities that must be supported, semicolon- or comma-separated, or <c>none</c> (default: DockerManifestList;OciIndex).</summary>
    public string? Require { get; set; }

    /// <summary>Where to write the JSON report; nothing is written when empty.</summary>
    public string? ReportFile { get; set; }

    /// <summary>Delete what the test pushed (default true).</summary>
    public bool Cleanup { get; set; } = true;

    /// <summary>One item per capability: Include = name; metadata <c>Result</c> (supported, not supported, skipped), <c>Title</c>, <c>Detail</c>, <c>Required</c>, <c>Status</c> (the registry's HTTP answer, when it refused).</summary>
    [Output]
    public ITaskItem[] Capabilities { get; private set; } = [];

    /// <summary>The table and the summary line, as logged (for <c>-getProperty</c>: a terminal shows build messages only from <c>-v:d</c> up).</summary>
    [Output]
    public string? Output { get; private set; }

    /// <summary>Test seam: a fixed run id instead of a new one.</summary>
    internal string? RunId { get; set; }

    private protected override async Task ExecuteAsync(CancellationToken cancellationToken)
    {
        // Every input is checked before the first request.
        var (repository, source) = RegistryTestInputs.ParseRepositories(Repository, SourceRepository);
        var required = RegistryTestInputs.ParseRequired(PushRequestBuilder.SplitList(Require));
        var options = new RegistryTestOptions(repository, source) { Cleanup = Cleanup, Required = required };
        if (!string.IsNullOrEmpty(RunId))
        {
            options = options with { RunId = RunId };
        }

        OutputFiles.CheckWritable(ReportFile, "ContainerRegistryTestReport");
        using var client = new RegistryClient(CreateSettings());
        var report = await new RegistryCapabilityTester(client, BuildLog).RunAsync(options, cancellationToken);

        Log.LogMessage(MessageImportance.High, report.FormatTable());
        if (!string.IsNullOrEmpty(ReportFile))
        {
            await OutputFiles.WriteAsync(ReportFile, report.ToJson(), cancellationToken);
        }

        Capabilities = [.. report.Capabilities.Select(c =>
        {
            var item = new TaskItem(c.Name);
            item.SetMetadata("Result", c.StateText);
            item.SetMetadata("Title", c.Title);
            item.SetMetadata("Detail", c.Detail);
            item.SetMetadata("Required", required.Contains(c.Name, StringComparer.Ordinal) ? "true" : "false");
            item.SetMetadata("Status", c.Answer is { } answer ? answer.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Empty);
            return (ITaskItem)item;
        })];
        if (report.LeftBehindWarning() is { } leftBehind)
        {
            Log.LogWarning(null, leftBehind.Code, null, null, 0, 0, 0, 0, leftBehind.Text);
        }

        var summary = report.Summary(ReportFile);
        Log.LogMessage(MessageImportance.High, summary);
        Output = report.FormatTable().TrimEnd('\n') + "\n" + summary;
        foreach (var missing in report.MissingRequired)
        {
            var (code, text) = RegistryTestInputs.MissingCapability(repository, missing);
            Log.LogError(null, code, null, null, 0, 0, 0, 0, text);
        }

        Log.LogMessage(MessageImportance.Low, $"MultiArch: {client.RequestCount} registry requests.");
    }
}
