using System.Collections.Immutable;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>One entry of a spec's <c>manifests</c> list: a source image and what the spec says about it.</summary>
/// <param name="Image">The source image reference (the entry's <c>image</c> key), as written.</param>
/// <param name="Platform">The platform the spec gives, or null to take it from the image's config.</param>
/// <param name="Annotations">Annotations for this entry's descriptor in the index, sorted by key; may be empty.</param>
/// <param name="Location">Where the entry's <c>image</c> value was written.</param>
internal sealed record ManifestSpecEntry(
    string Image,
    PlatformSpec? Platform,
    ImmutableSortedDictionary<string, string> Annotations,
    SpecLocation Location);
