using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tasks;

/// <summary>
/// Turns <c>ContainerPlatforms</c> items (or runtime identifiers) into the per-platform publishes to run and the
/// existing images to include, naming each per-platform image <c>&lt;registry&gt;/&lt;repository&gt;:&lt;tag&gt;-&lt;rid&gt;</c>.
/// Checks everything that can fail before a build starts: unknown RIDs, platform/RID mismatches, registry, repository,
/// tags and (optionally) the restore, the digest file, the base image's platforms and the SDK's credentials.
/// </summary>
public sealed class ResolveContainerPlatforms : MultiArchTask
{
    /// <summary><c>ContainerPlatforms</c> items: Include = platform; metadata <c>RuntimeIdentifier</c>, <c>Image</c>, <c>OSVersion</c>, <c>OSFeatures</c>, <c>Annotations</c>.</summary>
    public ITaskItem[]? Platforms { get; set; }

    /// <summary>Used when there are no items: <c>ContainerRuntimeIdentifiers</c>, else <c>RuntimeIdentifiers</c>.</summary>
    public string? RuntimeIdentifiers { get; set; }

    public string? Registry { get; set; }

    public string? Repository { get; set; }

    /// <summary>The first tag of the index; per-platform tags are made from it.</summary>
    public string? Tag { get; set; }

    /// <summary>The per-platform tag: <c>{tag}-{rid}</c> by default; also <c>{os}</c>, <c>{arch}</c>, <c>{variant}</c>.</summary>
    public string? PlatformTagFormat { get; set; }

    /// <summary>The target the check is for, in messages.</summary>
    public string? Purpose { get; set; }

    /// <summary>When set, fail early unless the restore (<c>project.assets.json</c>) includes every RID to build.</summary>
    public string? AssetsFile { get; set; }

    public string? TargetFramework { get; set; }

    public string? ProjectName { get; set; }

    /// <summary><c>ContainerBaseImage</c> when the project sets it: read once, and every platform to build must be in it.</summary>
    public string? BaseImage { get; set; }

    /// <summary><c>ContainerManifestDigestFile</c>: checked writable before anything is built or pushed.</summary>
    public string? DigestFile { get; set; }

    /// <summary>Fail when our credentials come from <c>MULTIARCH_REGISTRY_*</c> only, which the SDK's per-platform pushes do not read.</summary>
    public bool CheckSdkCredentials { get; set; }

    /// <summary>Per-platform publishes to run: Include = platform; metadata <c>RuntimeIdentifier</c>, <c>PlatformTag</c>, <c>Image</c>, <c>OSVersion</c>, <c>OSFeatures</c>, <c>Annotations</c>.</summary>
    [Output]
    public ITaskItem[] Builds { get; private set; } = [];

    /// <summary>Every platform of the index with its image reference (built ones by the naming convention).</summary>
    [Output]
    public ITaskItem[] Sources { get; private set; } = [];

    private protected override async Task ExecuteAsync(CancellationToken cancellationToken)
    {
        var purpose = string.IsNullOrEmpty(Purpose) ? "PublishMultiArchContainer" : Purpose;
        if (string.IsNullOrWhiteSpace(Registry))
        {
            throw MultiArchException.Create(MessageId.RegistryMissing, purpose);
        }

        var repository = (Repository ?? string.Empty).Trim();
        if (!ImageReference.TryParse($"{Registry.Trim()}/{repository}:latest", out var parsed, out var reason) || parsed.Repository != repository)
        {
            throw MultiArchException.Create(MessageId.RepositoryInvalid, repository, reason ?? "it names a registry or is not normalised");
        }

        var tag = string.IsNullOrWhiteSpace(Tag) ? "latest" : Tag.Trim();
        if (!ImageReference.IsValidTag(tag))
        {
            throw MultiArchException.Create(MessageId.InvalidTag, tag);
        }

        var requests = (Platforms ?? []).SelectMany(ExpandItem).ToList();
        var resolved = PlatformResolver.Resolve(requests, RuntimeIdentifiers, Registry.Trim(), repository, tag, PlatformTagFormat ?? string.Empty);
        if (!string.IsNullOrEmpty(AssetsFile))
        {
            PlatformResolver.CheckRestore(AssetsFile, TargetFramework ?? string.Empty, resolved.Where(r => r.IsBuilt).Select(r => r.RuntimeIdentifier!), ProjectName ?? "the project");
        }

        Builds = [.. resolved.Where(r => r.IsBuilt).Select(r => ToItem(r, tag))];
        Sources = [.. resolved.Select(r => ToItem(r, tag))];
        foreach (var platform in resolved)
        {
            Log.LogMessage(MessageImportance.Normal, platform.IsBuilt
                ? $"MultiArch: {platform.Platform} is built with RuntimeIdentifier {platform.RuntimeIdentifier} and pushed as {platform.Image}"
                : $"MultiArch: {platform.Platform} comes from the existing image {platform.Image}");
        }

        OutputFiles.CheckWritable(DigestFile, "ContainerManifestDigestFile");
        if (CheckSdkCredentials && !string.IsNullOrEmpty(Environment("MULTIARCH_REGISTRY_USERNAME")) && !SdkCredentialSources.HasAny(parsed.Registry, Environment) &&
            await AsksForLoginAsync(parsed.Registry, cancellationToken))
        {
            throw MultiArchException.Create(MessageId.SdkHasNoCredentials, parsed.Registry);
        }

        var built = resolved.Where(r => r.IsBuilt).Select(r => r.Platform).ToList();
        if (!string.IsNullOrWhiteSpace(BaseImage) && built.Count > 0)
        {
            await CheckBaseImageAsync(BaseImage.Trim(), built, cancellationToken);
        }
    }

    /// <summary>
    /// Whether the SDK's pushes would need credentials at all: MULTIARCH_REGISTRY_* may be meant for another registry
    /// (a source, the base image's) while the target takes anonymous pushes. One <c>GET /v2/</c>, asked only when the
    /// SDK has no credentials of its own; a registry that cannot be asked counts as one that wants a login.
    /// </summary>
    private async Task<bool> AsksForLoginAsync(string registry, CancellationToken cancellationToken)
    {
        using var client = new RegistryClient(CreateSettings());
        try
        {
            if (await client.AsksForLoginAsync(registry, cancellationToken))
            {
                return true;
            }

            Log.LogMessage(MessageImportance.Normal, $"MultiArch: {registry} asks for no login, so the SDK's per-platform pushes need no credentials of their own.");
            return false;
        }
        catch (MultiArchException ex) when (!cancellationToken.IsCancellationRequested)
        {
            Log.LogMessage(MessageImportance.Low, $"MultiArch: could not ask {registry} whether it wants a login ({ex.Code}: {ex.Message}).");
            return true;
        }
    }

    /// <summary>
    /// A base image that cannot serve a platform stops the publish here. One that cannot be read is left to the
    /// per-platform builds (they may read it with credentials of their own, e.g. DOTNET_CONTAINER_PULL_REGISTRY_*).
    /// </summary>
    private async Task CheckBaseImageAsync(string baseImage, IReadOnlyList<Platform> built, CancellationToken cancellationToken)
    {
        if (!ImageReference.TryParse(baseImage, out var reference, out _))
        {
            return; // the SDK reports its own error for a malformed ContainerBaseImage
        }

        IReadOnlyList<Platform> offered;
        using (var client = new RegistryClient(CreateSettings()))
        {
            try
            {
                offered = await BaseImageCheck.PlatformsAsync(client, reference, cancellationToken);
            }
            catch (MultiArchException ex) when (!cancellationToken.IsCancellationRequested)
            {
                Log.LogMessage(MessageImportance.Normal, $"MultiArch: the base image {baseImage} could not be read before the builds ({ex.Code}: {ex.Message}); the per-platform builds will read it.");
                return;
            }
        }

        BaseImageCheck.Check(baseImage, offered, built);
    }

    /// <summary>An item may name several platforms (<c>Include="linux/amd64;linux/arm64"</c> arrives as separate items already).</summary>
    private static IEnumerable<PlatformRequest> ExpandItem(ITaskItem item) =>
    [
        new PlatformRequest(item.ItemSpec, NullIfEmpty(item.GetMetadata("RuntimeIdentifier")), NullIfEmpty(item.GetMetadata("Image")),
            NullIfEmpty(item.GetMetadata("OSVersion")), NullIfEmpty(item.GetMetadata("OSFeatures")), NullIfEmpty(item.GetMetadata("Annotations"))),
    ];

    private static ITaskItem ToItem(ResolvedPlatform platform, string tag)
    {
        var item = new TaskItem(platform.Platform.ToString());
        item.SetMetadata("Image", platform.Image);
        item.SetMetadata("RuntimeIdentifier", platform.RuntimeIdentifier ?? string.Empty);
        item.SetMetadata("PlatformTag", platform.Image[(platform.Image.LastIndexOf(':') + 1)..]);
        item.SetMetadata("IndexTag", tag);
        item.SetMetadata("OSVersion", platform.OsVersion ?? string.Empty);
        item.SetMetadata("OSFeatures", platform.OsFeatures ?? string.Empty);
        item.SetMetadata("Annotations", platform.Annotations ?? string.Empty);
        item.SetMetadata("Existing", platform.IsExisting ? "true" : "false");
        return item;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
