using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace MultiArch.Build.Tasks.Oci;

/// <summary>
/// An image platform: <c>os/arch[/variant]</c> plus <c>os.version</c>, <c>os.features</c> and CPU <c>features</c>.
/// <c>linux/arm64</c> and <c>linux/arm64/v8</c> are the same platform.
/// </summary>
internal sealed record Platform
{
    public Platform(string os, string architecture, string? variant = null, string? osVersion = null,
        IEnumerable<string>? osFeatures = null, IEnumerable<string>? features = null)
    {
        Os = os;
        Architecture = architecture;
        Variant = string.IsNullOrEmpty(variant) ? null : variant;
        OsVersion = string.IsNullOrEmpty(osVersion) ? null : osVersion;
        OsFeatures = osFeatures?.ToImmutableArray() ?? [];
        Features = features?.ToImmutableArray() ?? [];
    }

    public string Os { get; init; }

    public string Architecture { get; init; }

    public string? Variant { get; init; }

    public string? OsVersion { get; init; }

    public ImmutableArray<string> OsFeatures { get; init; }

    public ImmutableArray<string> Features { get; init; }

    /// <summary>The variant with defaults folded away (<c>arm64</c>'s <c>v8</c>, <c>amd64</c>'s <c>v1</c>), for comparisons.</summary>
    public string? NormalizedVariant => (Architecture, Variant) switch
    {
        ("arm64", "v8") => null,
        ("amd64", "v1") => null,
        _ => Variant,
    };

    /// <summary><c>os/arch[/variant]</c>.</summary>
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>A longer form that also shows os.version and os.features, for messages.</summary>
    public string ToDisplayString()
    {
        var text = new StringBuilder(ToString());
        if (OsVersion is not null)
        {
            text.Append(" (os.version ").Append(OsVersion).Append(')');
        }

        if (!OsFeatures.IsDefaultOrEmpty)
        {
            text.Append(" (os.features ").Append(string.Join(",", OsFeatures)).Append(')');
        }

        return text.ToString();
    }

    public bool Equals(Platform? other) =>
        other is not null && Os == other.Os && Architecture == other.Architecture && NormalizedVariant == other.NormalizedVariant &&
        OsVersion == other.OsVersion && OsFeatures.SequenceEqual(other.OsFeatures) && Features.SequenceEqual(other.Features);

    public override int GetHashCode() => HashCode.Combine(Os, Architecture, NormalizedVariant, OsVersion);

    /// <summary>
    /// True when <paramref name="actual"/> (for example read from an image config) fits this platform:
    /// os and architecture equal, and every optional field this platform names is equal in <paramref name="actual"/>.
    /// </summary>
    public bool IsSatisfiedBy(Platform actual) =>
        Os == actual.Os && Architecture == actual.Architecture &&
        (Variant is null || NormalizedVariant == actual.NormalizedVariant) &&
        (OsVersion is null || OsVersion == actual.OsVersion);

    public static Platform Parse(string? value) =>
        TryParse(value, out var platform, out var reason)
            ? platform
            : throw MultiArchException.Create(MessageId.InvalidPlatform, value ?? string.Empty, reason);

    public static bool TryParse(string? value, [NotNullWhen(true)] out Platform? platform, [NotNullWhen(false)] out string? reason)
    {
        platform = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            reason = "it is empty";
            return false;
        }

        var parts = value.Trim().Split('/');
        if (parts.Length is < 2 or > 3)
        {
            reason = "it must have the form os/arch or os/arch/variant";
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length == 0 || !part.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-' or '.'))
            {
                reason = $"'{part}' is not a valid os, architecture or variant (lower-case letters, digits, '_', '-', '.')";
                return false;
            }
        }

        platform = new Platform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
        reason = null;
        return true;
    }
}
