using System.Collections.Immutable;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Specs;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>Turns each of the three ways to describe an index (YAML spec, arguments, items) into a <see cref="PushRequest"/>.</summary>
internal static class PushRequestBuilder
{
    /// <summary>manifest-tool's spec (and our extensions), already read and checked by <see cref="ManifestSpecReader"/>.</summary>
    public static PushRequest FromSpec(ManifestSpec spec, string? formatOverride)
    {
        var target = ParseAt(spec.Image, spec.Location.ToString());
        var sources = spec.Manifests.Select(entry => new SourceEntry(
            ParseAt(entry.Image, entry.Location.ToString()),
            ToPlatform(entry.Platform),
            entry.Annotations,
            entry.Location.ToString())).ToImmutableArray();
        return new PushRequest(target, spec.Tags, sources, spec.Annotations, formatOverride ?? spec.Format);
    }

    /// <summary>
    /// manifest-tool's <c>from-args</c>: one source per platform, named by the template with <c>OS</c>, <c>ARCH</c> and
    /// <c>VARIANT</c> replaced (<c>VARIANT</c> is empty for a platform without one).
    /// </summary>
    public static PushRequest FromArguments(string platforms, string template, string target, string? tags, string? annotations, string? format)
    {
        var sources = SplitList(platforms).Select(text =>
        {
            var platform = Platform.Parse(text);
            var image = template.Replace("OS", platform.Os, StringComparison.Ordinal)
                .Replace("ARCH", platform.Architecture, StringComparison.Ordinal)
                .Replace("VARIANT", platform.Variant ?? string.Empty, StringComparison.Ordinal);
            return new SourceEntry(ParseAt(image, $"ContainerManifestTemplate for {platform}"), platform, ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal), $"ContainerManifestPlatforms '{platform}'");
        }).ToImmutableArray();
        return new PushRequest(ImageReference.Parse(target), [.. SplitList(tags)], sources, ParseAnnotations(annotations), format);
    }

    /// <summary>One source per <c>ContainerPlatforms</c> item (Include = platform, <c>Image</c> = source reference).</summary>
    public static PushRequest FromItems(IEnumerable<PlatformItem> items, string target, string? tags, string? annotations, string? format)
    {
        var sources = items.Select(item =>
        {
            var origin = $"ContainerPlatforms item '{item.Platform}'";
            var platform = Platform.Parse(item.Platform);
            platform = platform with
            {
                OsVersion = string.IsNullOrWhiteSpace(item.OsVersion) ? platform.OsVersion : item.OsVersion.Trim(),
                OsFeatures = SplitList(item.OsFeatures) is { Length: > 0 } features ? [.. features] : platform.OsFeatures,
            };
            if (string.IsNullOrWhiteSpace(item.Image))
            {
                throw MultiArchException.Create(MessageId.MissingManifestArgument, $"The Image metadata of {origin}", "ContainerPlatforms items are used to push an index");
            }

            return new SourceEntry(ParseAt(item.Image, origin), platform, ParseAnnotations(item.Annotations), origin) { Known = item.Known, KnownConfigPlatform = item.KnownConfigPlatform, KnownManifest = item.KnownManifest };
        }).ToImmutableArray();
        return new PushRequest(ImageReference.Parse(target), [.. SplitList(tags)], sources, ParseAnnotations(annotations), format);
    }

    /// <summary><c>key=value</c> pairs separated by semicolons or new lines; the value may contain '=' and ','.</summary>
    public static ImmutableSortedDictionary<string, string> ParseAnnotations(string? text)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var pair in (text ?? string.Empty).Split([';', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw MultiArchException.Create(MessageId.InvalidAnnotation, pair);
            }

            builder[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
        }

        return builder.ToImmutable();
    }

    /// <summary>An MSBuild list property or metadata value: semicolons or commas, trimmed, empty entries dropped.</summary>
    public static string[] SplitList(string? value) =>
        (value ?? string.Empty).Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// The spec's platform. Without os and architecture (the reader allows neither or both) it is partial: its variant,
    /// os.version or features still count, and the publisher takes os and architecture from the image config.
    /// </summary>
    private static Platform? ToPlatform(PlatformSpec? spec) =>
        spec is null || (spec.Os is null && spec.Architecture is null && spec.Variant is null && spec.OsVersion is null &&
            spec.OsFeatures.IsDefaultOrEmpty && spec.Features.IsDefaultOrEmpty)
            ? null
            : new Platform(spec.Os ?? string.Empty, spec.Architecture ?? string.Empty, spec.Variant, spec.OsVersion, spec.OsFeatures, spec.Features);

    private static ImageReference ParseAt(string value, string origin)
    {
        if (ImageReference.TryParse(value, out var reference, out var reason))
        {
            return reference;
        }

        throw MultiArchException.Create(MessageId.InvalidReference, value, $"{reason} ({origin})");
    }
}

/// <summary>A <c>ContainerPlatforms</c> item, as plain data.</summary>
internal sealed record PlatformItem(string Platform, string? Image, string? OsVersion, string? OsFeatures, string? Annotations)
{
    public Descriptor? Known { get; init; }

    public Platform? KnownConfigPlatform { get; init; }

    public ManifestContent? KnownManifest { get; init; }
}
