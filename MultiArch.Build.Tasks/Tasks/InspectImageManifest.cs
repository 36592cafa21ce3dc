using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Task = System.Threading.Tasks.Task;
using MultiArch.Build.Tasks.Inspection;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Tasks;

/// <summary>
/// Reads an image reference (a single image, an OCI index or a Docker manifest list) and prints it as manifest-tool's
/// <c>inspect</c> does (<c>text</c>), as documented JSON (<c>json</c>) or as the registry's exact bytes (<c>raw</c>).
/// Returns one item per platform entry and can require platforms.
/// </summary>
public sealed class InspectImageManifest : MultiArchTask
{
    [Required]
    public string Image { get; set; } = string.Empty;

    /// <summary><c>text</c> (default), <c>json</c> or <c>raw</c>.</summary>
    public string? Format { get; set; }

    /// <summary>Platforms that must be present (<c>os/arch[/variant]</c>, semicolon- or comma-separated).</summary>
    public string? RequiredPlatforms { get; set; }

    /// <summary>Also write the output to this file.</summary>
    public string? OutputFile { get; set; }

    [Output]
    public string? Digest { get; private set; }

    /// <summary>What was printed: the text, the JSON, or the registry's bytes as UTF-8 text.</summary>
    [Output]
    public string? Output { get; private set; }

    [Output]
    public string? MediaType { get; private set; }

    /// <summary>One item per platform entry (attestations excluded): Include = platform; metadata <c>Digest</c>,
    /// <c>MediaType</c>, <c>Size</c>, <c>Platform</c>, <c>OS</c>, <c>Architecture</c>, <c>Variant</c>, <c>OSVersion</c>.</summary>
    [Output]
    public ITaskItem[] Manifests { get; private set; } = [];

    private protected override async Task ExecuteAsync(CancellationToken cancellationToken)
    {
        var format = string.IsNullOrWhiteSpace(Format) ? "text" : Format.Trim().ToLowerInvariant();
        if (!InspectFormatter.IsFormat(format))
        {
            throw MultiArchException.Create(MessageId.UnknownInspectFormat, Format);
        }

        if (string.IsNullOrWhiteSpace(Image))
        {
            throw MultiArchException.Create(MessageId.InspectImageMissing);
        }

        // Every input is checked before the first request.
        ImageReference.Parse(Image.Trim());
        var required = PushRequestBuilder.SplitList(RequiredPlatforms).Select(Platform.Parse).ToList();
        OutputFiles.CheckWritable(OutputFile, "ContainerInspectOutputFile");
        using var client = new RegistryClient(CreateSettings());
        var result = await new ImageInspector(client).InspectAsync(Image.Trim(), includeChildConfigs: InspectFormatter.ShowsChildConfigs(format), cancellationToken);

        var output = InspectFormatter.Format(result, format);
        Log.LogMessage(MessageImportance.High, output.TrimEnd('\n'));
        Output = output.TrimEnd('\n');
        if (format == "raw" && string.IsNullOrEmpty(OutputFile))
        {
            // A console is not a byte stream: loggers indent lines and add line ends.
            Log.LogMessage(MessageImportance.High, Messages.Text(MessageId.Info_RawOnConsole, result.Root.Raw.Length, result.Root.Digest));
        }
        if (!string.IsNullOrEmpty(OutputFile))
        {
            await (format == "raw"
                ? OutputFiles.WriteAsync(OutputFile, result.Root.Raw.ToArray(), cancellationToken)
                : OutputFiles.WriteAsync(OutputFile, output, cancellationToken));
        }

        Digest = result.Root.Digest.ToString();
        MediaType = result.Root.MediaType;
        Manifests = [.. InspectedPlatforms.Entries(result).Select(ToItem)];
        InspectedPlatforms.CheckRequired(Image, required, result);
        LogRequestSummary(client);
    }

    private static ITaskItem ToItem(Descriptor descriptor)
    {
        var item = new TaskItem(descriptor.Platform?.ToString() ?? "unknown");
        item.SetMetadata("Digest", descriptor.Digest.ToString());
        item.SetMetadata("MediaType", descriptor.MediaType);
        item.SetMetadata("Size", descriptor.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        item.SetMetadata("Platform", descriptor.Platform?.ToString() ?? string.Empty);
        item.SetMetadata("OS", descriptor.Platform?.Os ?? string.Empty);
        item.SetMetadata("Architecture", descriptor.Platform?.Architecture ?? string.Empty);
        item.SetMetadata("Variant", descriptor.Platform?.Variant ?? string.Empty);
        item.SetMetadata("OSVersion", descriptor.Platform?.OsVersion ?? string.Empty);
        item.SetMetadata("OSFeatures", descriptor.Platform is { OsFeatures.IsDefaultOrEmpty: false } p ? string.Join(",", p.OsFeatures) : string.Empty);
        return item;
    }
}
