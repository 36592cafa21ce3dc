using System.Collections.Immutable;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>
/// A manifest spec: the index to push and the images it lists. It is manifest-tool's <c>push from-spec</c> YAML
/// (<c>image</c>, <c>tags</c>, <c>manifests</c>, <c>annotations</c>) plus a few extensions; see
/// <c>docs/manifest-spec.md</c>. Read it with <see cref="ManifestSpecReader"/>, which checks the grammar of every
/// image reference and tag, so the values here are well-formed; whether the images exist is checked when publishing.
/// </summary>
/// <param name="Image">The target image reference the index is pushed to (the <c>image</c> key), as written.</param>
/// <param name="Tags">Extra tags for the index, in the order written (the <c>tags</c> key); may be empty.</param>
/// <param name="TagLocations">Where each of <paramref name="Tags"/> was written, index for index.</param>
/// <param name="Manifests">The source images, in the order written; never empty.</param>
/// <param name="Annotations">Index-level annotations (the <c>annotations</c> key), sorted by key; may be empty.</param>
/// <param name="Format"><see cref="FormatOci"/>, <see cref="FormatDocker"/>, or null when the spec leaves it to the build.</param>
/// <param name="Location">Where the <c>image</c> value was written.</param>
internal sealed record ManifestSpec(
    string Image,
    ImmutableArray<string> Tags,
    ImmutableArray<SpecLocation> TagLocations,
    ImmutableArray<ManifestSpecEntry> Manifests,
    ImmutableSortedDictionary<string, string> Annotations,
    string? Format,
    SpecLocation Location)
{
    /// <summary>The <c>format</c> value for an OCI image index.</summary>
    public const string FormatOci = "oci";

    /// <summary>The <c>format</c> value for a Docker manifest list.</summary>
    public const string FormatDocker = "docker";
}
