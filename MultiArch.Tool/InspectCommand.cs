using MultiArch.Build.Tasks;
using MultiArch.Build.Tasks.Inspection;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Tool;

/// <summary>
/// <c>multiarch inspect [--raw [--expand-config]] [--format text|json|raw] [--required-platforms P] REF</c>: the
/// InspectImageManifest task's work (<see cref="ImageInspector"/>, <see cref="InspectFormatter"/>) on stdout.
/// </summary>
internal static class InspectCommand
{
    public static async Task<int> RunAsync(CommandLine line, TextWriter stdout, ConsoleLog log, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        // Every input is checked before the first request.
        var image = line.SingleArgument("REF").Trim();
        var raw = line.Has("raw");
        var format = line.Value("format")?.Trim().ToLowerInvariant();
        if (raw && format is not null)
        {
            throw MultiArchException.Create(MessageId.CliConflictingOptions, "--raw", "--format");
        }

        if (line.Has("expand-config") && !raw)
        {
            throw MultiArchException.Create(MessageId.CliExpandConfigNeedsRaw);
        }

        format ??= raw ? "manifest-tool-raw" : "text";
        if (format != "manifest-tool-raw" && !InspectFormatter.IsFormat(format))
        {
            throw MultiArchException.Create(MessageId.UnknownInspectFormat, line.Value("format"));
        }

        var reference = ImageReference.Parse(image);
        var required = line.List("required-platforms").Select(Platform.Parse).ToList();
        using var client = new RegistryClient(Cli.CreateSettings(line, environment, log, reference));
        var result = await new ImageInspector(client).InspectAsync(image, includeChildConfigs: InspectFormatter.ShowsChildConfigs(format), cancellationToken);

        var output = format == "manifest-tool-raw"
            ? ManifestToolRaw.Format(result, line.Has("expand-config") ? await ExpandedConfigAsync(client, result, cancellationToken) : null)
            : InspectFormatter.Format(result, format);
        await stdout.WriteAsync(output);
        await stdout.FlushAsync(cancellationToken);
        InspectedPlatforms.CheckRequired(image, required, result);
        log.Message(LogLevel.Low, $"MultiArch: inspect: {client.RequestCount} registry requests.");
        return 0;
    }

    /// <summary>The single image's config bytes (<c>--expand-config</c>; a list shows no configs, as in manifest-tool).</summary>
    private static async Task<ReadOnlyMemory<byte>?> ExpandedConfigAsync(RegistryClient client, InspectResult result, CancellationToken cancellationToken) =>
        result.Root is ImageManifest manifest && result.RootConfig is not null
            ? await client.GetBlobAsync(result.Reference, manifest.Config, cancellationToken)
            : null;
}
