namespace MultiArch.Build.Tasks.Oci;

/// <summary>The manifest and index media types this package reads and writes.</summary>
internal static class MediaTypes
{
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// <summary>The Accept header for manifest requests: every manifest and index type we understand.</summary>
    public static readonly IReadOnlyList<string> ManifestAccept = [DockerManifest, DockerManifestList, OciManifest, OciIndex];

    public static bool IsIndex(string? mediaType) => mediaType is DockerManifestList or OciIndex;

    public static bool IsImageManifest(string? mediaType) => mediaType is DockerManifest or OciManifest;

    public static bool IsKnownManifest(string? mediaType) => IsIndex(mediaType) || IsImageManifest(mediaType);

    public static bool IsDocker(string? mediaType) => mediaType is DockerManifest or DockerManifestList;

    /// <summary>Layers that must not be copied or mounted (Windows foreign layers).</summary>
    public static bool IsNonDistributable(string? mediaType) =>
        mediaType is not null && (mediaType.Contains(".foreign.", StringComparison.Ordinal) || mediaType.Contains("nondistributable", StringComparison.Ordinal));
}
