using MultiArch.Build.Tasks;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Specs;

namespace MultiArch.Tool;

/// <summary>
/// <c>multiarch push [--type docker|oci] from-spec FILE</c> and <c>push from-args --platforms … --template … --target …</c>:
/// the PushManifestList task's work (<see cref="PushRequestBuilder"/>, <see cref="ManifestListPublisher"/>); stdout is
/// manifest-tool's <c>Digest: sha256:… SIZE</c> line.
/// </summary>
internal static class PushCommand
{
    public static async Task<int> RunAsync(CommandLine line, TextWriter stdout, ConsoleLog log, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        // Every input is checked before the first request.
        var request = (line.Command == CommandLine.PushFromSpec ? FromSpec(line) : FromArguments(line)) with
        {
            IgnoreMissing = line.Has("ignore-missing"),
            DryRun = line.Has("dry-run"),
        };
        OutputFiles.CheckWritable(line.Value("digest-file"), "--digest-file");
        var references = request.Sources.Select(s => s.Image).Prepend(request.Target).ToArray();
        using var client = new RegistryClient(Cli.CreateSettings(line, environment, log, references));
        var result = await new ManifestListPublisher(client, log).PushAsync(request, cancellationToken);

        await stdout.WriteAsync($"Digest: {result.Index.Digest} {result.Index.Size}\n");
        if (line.Value("digest-file") is { Length: > 0 } digestFile && !request.DryRun)
        {
            await OutputFiles.WriteAsync(digestFile, result.Index.Digest.ToString(), cancellationToken);
        }

        log.Message(LogLevel.Low, $"MultiArch: push: {client.RequestCount} registry requests.");
        return 0;
    }

    private static PushRequest FromSpec(CommandLine line)
    {
        var file = line.SingleArgument("FILE");
        return PushRequestBuilder.FromSpec(ManifestSpecReader.ReadFile(file), Type(line));
    }

    private static PushRequest FromArguments(CommandLine line)
    {
        line.NoArguments();
        var platforms = line.List("platforms");
        var template = line.Value("template");
        var target = line.Value("target");
        if (platforms.Count == 0)
        {
            throw MultiArchException.Create(MessageId.CliMissingOption, line.Command, "--platforms");
        }

        if (string.IsNullOrWhiteSpace(template))
        {
            throw MultiArchException.Create(MessageId.CliMissingOption, line.Command, "--template");
        }

        if (string.IsNullOrWhiteSpace(target))
        {
            throw MultiArchException.Create(MessageId.CliMissingOption, line.Command, "--target");
        }

        return PushRequestBuilder.FromArguments(string.Join(",", platforms), template.Trim(), target.Trim(), string.Join(",", line.List("tags")), string.Join(";", line.List("annotations")), Type(line));
    }

    /// <summary><c>--type</c>: docker or oci; without it the publisher chooses (Docker only when every image is Docker), as the task does.</summary>
    private static string? Type(CommandLine line) => line.Value("type")?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "docker" => ManifestSpec.FormatDocker,
        "oci" => ManifestSpec.FormatOci,
        _ => throw MultiArchException.Create(MessageId.CliInvalidOptionValue, "--type", line.Value("type"), "docker or oci"),
    };
}
