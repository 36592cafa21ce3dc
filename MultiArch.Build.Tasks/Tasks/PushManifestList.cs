using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Task = System.Threading.Tasks.Task;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Specs;

namespace MultiArch.Build.Tasks.Tasks;

/// <summary>
/// Stitches images that are already in a registry, one per platform, into an OCI image index or a Docker manifest
/// list, described by a YAML spec (<see cref="Spec"/>), by arguments (<see cref="Platforms"/>, <see cref="Template"/>,
/// <see cref="Target"/>) or by <see cref="Sources"/> items.
/// </summary>
public sealed class PushManifestList : MultiArchTask
{
    /// <summary>A manifest-tool YAML spec (<c>image</c>, <c>tags</c>, <c>manifests</c>, <c>annotations</c>).</summary>
    public string? Spec { get; set; }

    /// <summary>With <see cref="Template"/>: the platforms, <c>os/arch[/variant]</c>, comma- or semicolon-separated.</summary>
    public string? Platforms { get; set; }

    /// <summary>The source name pattern; <c>OS</c>, <c>ARCH</c> and <c>VARIANT</c> are replaced per platform.</summary>
    public string? Template { get; set; }

    /// <summary>The reference to push the index to (arguments and items).</summary>
    public string? Target { get; set; }

    /// <summary>More tags for the index (arguments and items; a spec has its own <c>tags</c>).</summary>
    public string? Tags { get; set; }

    /// <summary>Index annotations, <c>key=value</c> separated by semicolons (OCI only).</summary>
    public string? Annotations { get; set; }

    /// <summary>Annotations the build knows (<c>key=value;…</c>, empty values dropped): added to an OCI index, never forcing one.
    /// <c>org.opencontainers.image.created</c> is added from <c>SOURCE_DATE_EPOCH</c> when that is set.</summary>
    public string? DefaultAnnotations { get; set; }

    /// <summary><c>ContainerPlatforms</c> items: Include = platform, metadata <c>Image</c>, <c>OSVersion</c>, <c>OSFeatures</c>, <c>Annotations</c>.</summary>
    public ITaskItem[]? Sources { get; set; }

    /// <summary><c>oci</c> or <c>docker</c>; empty chooses Docker only when every child is a Docker manifest.</summary>
    public string? Format { get; set; }

    public bool IgnoreMissing { get; set; }

    public bool DryRun { get; set; }

    /// <summary>Check each given platform against the image config (one request per source). Default true.</summary>
    public bool VerifyPlatforms { get; set; } = true;

    /// <summary>A file to write the index digest (<c>sha256:…</c>) to, for CI.</summary>
    public string? DigestFile { get; set; }

    [Output]
    public string? Digest { get; private set; }

    [Output]
    public long Size { get; private set; }

    [Output]
    public string? MediaType { get; private set; }

    /// <summary>One item per pushed reference, with metadata <c>Digest</c>, <c>MediaType</c> and <c>Platforms</c>.</summary>
    [Output]
    public ITaskItem[] PushedReferences { get; private set; } = [];

    private protected override async Task ExecuteAsync(CancellationToken cancellationToken)
    {
        var request = BuildRequest() with
        {
            IgnoreMissing = IgnoreMissing,
            DryRun = DryRun,
            VerifyPlatforms = VerifyPlatforms,
            DefaultAnnotations = KnownAnnotations(),
        };
        if (!DryRun)
        {
            OutputFiles.CheckWritable(DigestFile, "ContainerManifestDigestFile");
        }

        using var client = new RegistryClient(CreateSettings());
        var result = await new ManifestListPublisher(client, BuildLog).PushAsync(request, cancellationToken);

        Digest = result.Index.Digest.ToString();
        Size = result.Index.Size;
        MediaType = result.Index.MediaType;
        var platforms = string.Join(";", result.Images.Select(d => d.Platform?.ToString()));
        PushedReferences = [.. result.PushedReferences.Select(reference =>
        {
            var item = new TaskItem(reference.ToString());
            item.SetMetadata("Digest", Digest);
            item.SetMetadata("MediaType", MediaType);
            item.SetMetadata("Platforms", platforms);
            return (ITaskItem)item;
        })];
        if (!string.IsNullOrEmpty(DigestFile) && !DryRun)
        {
            await OutputFiles.WriteAsync(DigestFile, Digest, cancellationToken);
        }

        LogRequestSummary(client);
    }

    private PushRequest BuildRequest()
    {
        var hasSpec = !string.IsNullOrWhiteSpace(Spec);
        var hasArgs = !string.IsNullOrWhiteSpace(Platforms) || !string.IsNullOrWhiteSpace(Template);
        var items = (Sources ?? []).Where(i => !string.IsNullOrWhiteSpace(i.GetMetadata("Image"))).ToList();
        const string SpecInput = "ContainerManifestSpec";
        const string ArgumentsInput = "ContainerManifestPlatforms/ContainerManifestTemplate";
        const string ItemsInput = "ContainerPlatforms items with Image metadata";
        if (hasSpec && (hasArgs || items.Count > 0))
        {
            // One way to describe the index: a second one would be silently ignored.
            throw MultiArchException.Create(MessageId.ConflictingManifestInputs, SpecInput, hasArgs ? ArgumentsInput : ItemsInput);
        }

        if (hasArgs && items.Count > 0)
        {
            throw MultiArchException.Create(MessageId.ConflictingManifestInputs, ArgumentsInput, ItemsInput);
        }

        if (hasSpec)
        {
            return PushRequestBuilder.FromSpec(ManifestSpecReader.ReadFile(Spec!), NullIfEmpty(Format));
        }

        if (hasArgs)
        {
            Require(Platforms, "ContainerManifestPlatforms", "ContainerManifestTemplate");
            Require(Template, "ContainerManifestTemplate", "ContainerManifestPlatforms");
            Require(Target, "ContainerManifestTarget", "ContainerManifestPlatforms");
            return PushRequestBuilder.FromArguments(Platforms!, Template!, Target!, Tags, Annotations, NullIfEmpty(Format));
        }

        if (items.Count > 0)
        {
            Require(Target, "ContainerManifestTarget", "ContainerPlatforms items have Image metadata");
            return PushRequestBuilder.FromItems(items.Select(i => ToPlatformItem(i, BuildLog)), Target!, Tags, Annotations, NullIfEmpty(Format));
        }

        throw MultiArchException.Create(MessageId.NoManifestInput);
    }

    private static PlatformItem ToPlatformItem(ITaskItem item, IBuildLog log)
    {
        Descriptor? known = null;
        var digest = item.GetMetadata("ManifestDigest");
        var mediaType = item.GetMetadata("ManifestMediaType");
        var size = item.GetMetadata("ManifestSize");
        if (Oci.Digest.TryParse(digest, out var parsed) && !string.IsNullOrEmpty(mediaType) && long.TryParse(size, out var length))
        {
            known = new Descriptor(mediaType, parsed, length);
        }

        // Publish outputs carry the manifest and config themselves: trust them only when the manifest hashes to its digest.
        Platform? configPlatform = null;
        ManifestContent? knownManifest = null;
        var manifest = item.GetMetadata("Manifest");
        if (!string.IsNullOrEmpty(manifest) && Oci.Digest.TryParse(digest, out var reported))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(manifest);
            if (reported.Matches(bytes))
            {
                knownManifest = ManifestContent.Parse(bytes, NullIfEmpty(mediaType), item.ItemSpec);
                known = knownManifest.ToDescriptor();
                var configuration = item.GetMetadata("Configuration");
                if (!string.IsNullOrEmpty(configuration))
                {
                    configPlatform = ImageConfig.Parse(System.Text.Encoding.UTF8.GetBytes(configuration), item.ItemSpec).Platform;
                }
            }
            else
            {
                log.Message(LogLevel.Normal, Messages.Text(MessageId.GeneratedManifestMismatch, item.ItemSpec, reported, Oci.Digest.FromContent(bytes)));
            }
        }

        return new PlatformItem(item.ItemSpec, item.GetMetadata("Image"), item.GetMetadata("OSVersion"), item.GetMetadata("OSFeatures"), item.GetMetadata("Annotations")) { Known = known, KnownConfigPlatform = configPlatform, KnownManifest = knownManifest };
    }

    private System.Collections.Immutable.ImmutableSortedDictionary<string, string> KnownAnnotations()
    {
        var pairs = (DefaultAnnotations ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(p => p.IndexOf('=', StringComparison.Ordinal) is > 0 and var i && i < p.Length - 1);
        var annotations = PushRequestBuilder.ParseAnnotations(string.Join(";", pairs));
        if (long.TryParse(Environment("SOURCE_DATE_EPOCH"), out var epoch) && epoch >= 0)
        {
            annotations = annotations.SetItem("org.opencontainers.image.created", DateTimeOffset.FromUnixTimeSeconds(epoch).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
        }

        return annotations;
    }

    private static void Require(string? value, string name, string because)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw MultiArchException.Create(MessageId.MissingManifestArgument, name, because);
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim().ToLowerInvariant();
}
