using System.Collections.Immutable;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>
/// The <c>platform</c> of a spec entry, as written. Every field is optional, but <see cref="Os"/> and
/// <see cref="Architecture"/> are either both given or both absent (the reader enforces it, as manifest-tool does);
/// absent fields are filled from the image's config when publishing.
/// </summary>
/// <param name="Os">The operating system (<c>os</c>), for example <c>linux</c>.</param>
/// <param name="Architecture">The CPU architecture (<c>architecture</c>), for example <c>arm64</c>.</param>
/// <param name="Variant">The CPU variant (<c>variant</c>), for example <c>v7</c>.</param>
/// <param name="OsVersion">The OS version (<c>osversion</c> or <c>os.version</c>), for example <c>10.0.17763.2300</c>.</param>
/// <param name="OsFeatures">The OS features (<c>osfeatures</c> or <c>os.features</c>), for example <c>win32k</c>.</param>
/// <param name="Features">The CPU features (<c>features</c>), an extension over manifest-tool.</param>
/// <param name="Location">Where the <c>platform</c> value starts.</param>
internal sealed record PlatformSpec(
    string? Os,
    string? Architecture,
    string? Variant,
    string? OsVersion,
    ImmutableArray<string> OsFeatures,
    ImmutableArray<string> Features,
    SpecLocation Location);
