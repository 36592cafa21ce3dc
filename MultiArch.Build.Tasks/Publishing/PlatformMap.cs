using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>Container platforms and .NET runtime identifiers, both ways.</summary>
internal static class PlatformMap
{
    private static readonly (string Rid, string Platform)[] s_table =
    [
        ("linux-x64", "linux/amd64"),
        ("linux-arm64", "linux/arm64/v8"),
        ("linux-arm", "linux/arm/v7"),
        ("linux-musl-x64", "linux/amd64"),
        ("linux-musl-arm64", "linux/arm64/v8"),
        ("linux-musl-arm", "linux/arm/v7"),
        ("linux-s390x", "linux/s390x"),
        ("linux-ppc64le", "linux/ppc64le"),
        ("linux-riscv64", "linux/riscv64"),
        ("linux-loongarch64", "linux/loong64"),
        ("win-x64", "windows/amd64"),
        ("win-arm64", "windows/arm64"),
    ];

    public static string KnownRuntimeIdentifiers => string.Join(", ", s_table.Select(e => e.Rid));

    /// <summary>The platform a runtime identifier builds for (<c>linux-arm</c> → <c>linux/arm/v7</c>), or null.</summary>
    public static Platform? ToPlatform(string runtimeIdentifier)
    {
        var entry = s_table.FirstOrDefault(e => e.Rid.Equals(runtimeIdentifier.Trim(), StringComparison.OrdinalIgnoreCase));
        return entry.Rid is null ? null : Platform.Parse(entry.Platform);
    }

    /// <summary>The default (glibc) runtime identifier for a platform (<c>linux/arm64</c> → <c>linux-arm64</c>), or null.</summary>
    public static string? ToRuntimeIdentifier(Platform platform) =>
        s_table.Where(e => !e.Rid.Contains("musl", StringComparison.Ordinal))
            .FirstOrDefault(e => Platform.Parse(e.Platform).Os == platform.Os && Platform.Parse(e.Platform).Architecture == platform.Architecture &&
                (platform.Variant is null || Platform.Parse(e.Platform).NormalizedVariant == platform.NormalizedVariant)).Rid;
}
