using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>How a platform given with a source is checked against, and completed by, what the image says.</summary>
internal static class SourcePlatform
{
    /// <summary>The input platform checked against the config's (a contradiction is an error) and completed by it.</summary>
    public static Platform CompletePlatform(SourceEntry source, Platform config)
    {
        var input = source.Platform!;
        if (Contradiction(input, config) is not null)
        {
            throw MultiArchException.Create(MessageId.PlatformMismatch, $"{source.Image.Original} ({source.Origin})", Describe(input), config.ToDisplayString());
        }

        // The input wins for what it says; the config fills in what it leaves out (os and architecture of a partial
        // platform, variant, os.version, os.features).
        return input with
        {
            Os = input.Os.Length == 0 ? config.Os : input.Os,
            Architecture = input.Architecture.Length == 0 ? config.Architecture : input.Architecture,
            Variant = input.Variant ?? config.Variant,
            OsVersion = input.OsVersion ?? config.OsVersion,
            OsFeatures = input.OsFeatures.IsDefaultOrEmpty ? config.OsFeatures : input.OsFeatures,
        };
    }

    /// <summary>An input platform names both os and architecture (not only a variant or os.version).</summary>
    public static bool IsComplete(Platform? platform) => platform is { Os.Length: > 0, Architecture.Length: > 0 };

    /// <summary>
    /// The first field where <paramref name="input"/> says something <paramref name="actual"/> (an image config, an index
    /// entry) contradicts, or null. A field either side leaves out never contradicts: a config without os.version or
    /// variant takes the input's.
    /// </summary>
    public static string? Contradiction(Platform input, Platform actual)
    {
        if (input.Os.Length > 0 && input.Os != actual.Os)
        {
            return "os";
        }

        if (input.Architecture.Length > 0 && input.Architecture != actual.Architecture)
        {
            return "architecture";
        }

        // Compare variants on the actual architecture, so that arm64 and arm64/v8 are the same platform.
        if (input.Variant is not null && actual.Variant is not null &&
            (input with { Architecture = actual.Architecture }).NormalizedVariant != actual.NormalizedVariant)
        {
            return "variant";
        }

        return input.OsVersion is not null && actual.OsVersion is not null && input.OsVersion != actual.OsVersion ? "os.version" : null;
    }

    /// <summary>A platform for messages; a partial one lists only what it gives.</summary>
    public static string Describe(Platform platform)
    {
        if (IsComplete(platform))
        {
            return platform.ToDisplayString();
        }

        var parts = new List<string>();
        if (platform.Variant is not null)
        {
            parts.Add("variant " + platform.Variant);
        }

        if (platform.OsVersion is not null)
        {
            parts.Add("os.version " + platform.OsVersion);
        }

        if (!platform.OsFeatures.IsDefaultOrEmpty)
        {
            parts.Add("os.features " + string.Join(",", platform.OsFeatures));
        }

        return string.Join(", ", parts);
    }
}
