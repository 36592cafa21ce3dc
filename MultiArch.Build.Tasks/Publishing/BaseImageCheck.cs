using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>
/// Reads a base image once, before the per-platform builds, and fails when it cannot serve a platform to build: the
/// SDK would build that platform's image on another platform's base (and label it as the base is labelled).
/// </summary>
internal static class BaseImageCheck
{
    /// <summary>The platforms <paramref name="baseImage"/> offers (an index's entries, or a single image's config).</summary>
    public static async Task<IReadOnlyList<Platform>> PlatformsAsync(RegistryClient client, ImageReference baseImage, CancellationToken cancellationToken)
    {
        switch (await client.GetManifestAsync(baseImage, cancellationToken))
        {
            case ImageIndex index:
                return [.. index.Manifests.Where(d => !d.IsAttestation && d.Platform is not null).Select(d => d.Platform!)];
            case ImageManifest image when image.Config.MediaType is MediaTypes.OciConfig or MediaTypes.DockerConfig:
                var config = ImageConfig.Parse(await client.GetBlobAsync(baseImage, image.Config, cancellationToken), $"{baseImage.Name}@{image.Config.Digest}");
                return [config.Platform];
            default:
                return [];
        }
    }

    /// <summary>Throws MULTIARCH2022 naming every platform in <paramref name="wanted"/> that <paramref name="offered"/> cannot serve.</summary>
    public static void Check(string baseImage, IReadOnlyList<Platform> offered, IEnumerable<Platform> wanted)
    {
        var missing = wanted.Select(w => new Platform(w.Os, w.Architecture, w.Variant)).Where(w => !offered.Any(w.IsSatisfiedBy)).Select(p => p.ToString()).ToList();
        if (missing.Count > 0)
        {
            throw MultiArchException.Create(MessageId.BaseImageLacksPlatform, baseImage, string.Join(", ", missing),
                offered.Count == 0 ? "none" : string.Join(", ", offered.Select(p => p.ToString())));
        }
    }
}
