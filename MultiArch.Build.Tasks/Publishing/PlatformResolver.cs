using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>A platform to publish: either built here (with a runtime identifier) or an existing image.</summary>
/// <param name="Platform">The platform as the index will name it.</param>
/// <param name="RuntimeIdentifier">The RID to build with; null for an existing image.</param>
/// <param name="Image">The image reference: where the per-platform publish pushes, or the existing image.</param>
internal sealed record ResolvedPlatform(Platform Platform, string? RuntimeIdentifier, string Image)
{
    public string? OsVersion { get; init; }

    public string? OsFeatures { get; init; }

    public string? Annotations { get; init; }

    public bool IsBuilt => RuntimeIdentifier is not null && !IsExisting;

    public bool IsExisting { get; init; }
}

/// <summary>What the user asked to publish: <c>ContainerPlatforms</c> items, or else runtime identifiers.</summary>
internal sealed record PlatformRequest(string Include, string? RuntimeIdentifier, string? Image, string? OsVersion, string? OsFeatures, string? Annotations);

/// <summary>
/// Decides, for <c>PublishMultiArchContainer</c> and the stitch-only mode, which platforms there are, the RID each is
/// built with and the reference each per-platform image has (<c>&lt;registry&gt;/&lt;repository&gt;:&lt;tag&gt;-&lt;rid&gt;</c> by default).
/// </summary>
internal static class PlatformResolver
{
    public static IReadOnlyList<ResolvedPlatform> Resolve(
        IReadOnlyList<PlatformRequest> items,
        string? runtimeIdentifiers,
        string registry,
        string repository,
        string tag,
        string tagFormat)
    {
        var requests = items.Count > 0
            ? items
            : [.. PushRequestBuilder.SplitList(runtimeIdentifiers).Select(rid => new PlatformRequest(ToPlatformOrThrow(rid, "ContainerRuntimeIdentifiers/RuntimeIdentifiers").ToString(), rid, null, null, null, null))];
        if (requests.Count == 0)
        {
            throw MultiArchException.Create(MessageId.NoPlatforms);
        }

        var resolved = new List<ResolvedPlatform>();
        foreach (var request in requests)
        {
            var platform = Platform.Parse(request.Include);
            if (!string.IsNullOrWhiteSpace(request.Image))
            {
                resolved.Add(new ResolvedPlatform(platform, null, request.Image.Trim()) { IsExisting = true, OsVersion = request.OsVersion, OsFeatures = request.OsFeatures, Annotations = request.Annotations });
                continue;
            }

            string rid;
            if (!string.IsNullOrWhiteSpace(request.RuntimeIdentifier))
            {
                rid = request.RuntimeIdentifier.Trim();
                var built = ToPlatformOrThrow(rid, $"the ContainerPlatforms item '{request.Include}'");
                if (built.Os != platform.Os || built.Architecture != platform.Architecture || (platform.Variant is not null && built.NormalizedVariant != platform.NormalizedVariant))
                {
                    throw MultiArchException.Create(MessageId.PlatformRidMismatch, request.Include, rid, built);
                }
            }
            else
            {
                rid = PlatformMap.ToRuntimeIdentifier(platform) ?? throw MultiArchException.Create(MessageId.NoRuntimeIdentifierForPlatform, request.Include);
            }

            // Variants the index should carry even though the SDK's config leaves them out (arm64 → v8, arm → v7).
            var named = platform.Variant is null && PlatformMap.ToPlatform(rid) is { Variant: { } variant } ? platform with { Variant = variant } : platform;
            var platformTag = FormatTag(tagFormat, tag, rid, named);
            if (!ImageReference.IsValidTag(platformTag))
            {
                throw MultiArchException.Create(MessageId.InvalidTag, platformTag);
            }

            resolved.Add(new ResolvedPlatform(named, rid, $"{registry}/{repository}:{platformTag}") { OsVersion = request.OsVersion, OsFeatures = request.OsFeatures, Annotations = request.Annotations });
        }

        return resolved;
    }

    /// <summary>The per-platform tag: placeholders <c>{tag}</c>, <c>{rid}</c>, <c>{os}</c>, <c>{arch}</c>, <c>{variant}</c>.</summary>
    public static string FormatTag(string format, string tag, string rid, Platform platform) =>
        (string.IsNullOrWhiteSpace(format) ? "{tag}-{rid}" : format)
            .Replace("{tag}", tag, StringComparison.Ordinal)
            .Replace("{rid}", rid, StringComparison.Ordinal)
            .Replace("{os}", platform.Os, StringComparison.Ordinal)
            .Replace("{arch}", platform.Architecture, StringComparison.Ordinal)
            .Replace("{variant}", platform.Variant ?? string.Empty, StringComparison.Ordinal);

    /// <summary>Fails early, with what to set, when the restore did not include a runtime identifier to be built.</summary>
    public static void CheckRestore(string assetsFile, string targetFramework, IEnumerable<string> runtimeIdentifiers, string project)
    {
        var wanted = runtimeIdentifiers.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var restored = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (File.Exists(assetsFile))
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(assetsFile));
            if (document.RootElement.TryGetProperty("targets", out var targets) && targets.ValueKind == JsonValueKind.Object)
            {
                foreach (var target in targets.EnumerateObject())
                {
                    var slash = target.Name.IndexOf('/', StringComparison.Ordinal);
                    if (slash > 0)
                    {
                        restored.Add(target.Name[(slash + 1)..]);
                    }
                }
            }
        }

        var missing = wanted.Where(rid => !restored.Contains(rid)).ToList();
        if (missing.Count > 0)
        {
            throw MultiArchException.Create(MessageId.RestoreMissingRuntimeIdentifiers, project, string.Join(", ", missing), string.Join(";", wanted));
        }
    }

    private static Platform ToPlatformOrThrow(string rid, string where) =>
        PlatformMap.ToPlatform(rid) ?? throw MultiArchException.Create(MessageId.UnknownRuntimeIdentifier, rid, where, PlatformMap.KnownRuntimeIdentifiers);
}
