using System.IO.Compression;
using System.Text;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.RegistryTest;

/// <summary>
/// One tiny image the registry self-test pushes, made in memory: a config of a few hundred bytes and one gzipped tar
/// layer holding a text file that names the run and the platform. The same run id and platform always give the same
/// bytes (on one runtime: the gzip bytes depend on its zlib); another run id gives other digests, so runs never share
/// content. The same two blobs back a Docker and an OCI manifest.
/// </summary>
internal sealed class RegistryTestImage
{
    public RegistryTestImage(Platform platform, string runId)
    {
        Platform = platform;
        var tar = Tar("multiarch-registry-test.txt", $"MultiArch.Build.Tasks registry test\nrun: {runId}\nplatform: {platform}\n");
        Layer = Gzip(tar);
        Config = ConfigJson(platform, runId, Digest.FromContent(tar));
        DockerManifest = ManifestJson(MediaTypes.DockerManifest, MediaTypes.DockerConfig, MediaTypes.DockerLayer);
        OciManifest = ManifestJson(MediaTypes.OciManifest, MediaTypes.OciConfig, MediaTypes.OciLayer);
    }

    public Platform Platform { get; }

    public byte[] Config { get; }

    public byte[] Layer { get; }

    /// <summary>The config, then the layer.</summary>
    public IReadOnlyList<byte[]> Blobs => [Config, Layer];

    public ImageManifest DockerManifest { get; }

    public ImageManifest OciManifest { get; }

    /// <summary>The Docker schema 2 manifest for a Docker manifest list, the OCI manifest for an OCI index.</summary>
    public ImageManifest ManifestFor(string indexMediaType) => indexMediaType == MediaTypes.DockerManifestList ? DockerManifest : OciManifest;

    /// <summary>The index entry for <paramref name="manifest"/>: its descriptor with this image's platform.</summary>
    public Descriptor Entry(ImageManifest manifest) => manifest.ToDescriptor() with { Platform = Platform };

    private ImageManifest ManifestJson(string mediaType, string configType, string layerType)
    {
        var docker = mediaType == MediaTypes.DockerManifest;
        var json = new GoJsonWriter();
        json.StartObject();
        json.Property("schemaVersion", 2);
        json.Property("mediaType", mediaType);
        WriteDescriptor(json, "config", configType, Config, docker);
        json.Name("layers");
        json.StartArray();
        WriteDescriptor(json, null, layerType, Layer, docker);
        json.EndArray();
        json.EndObject();
        return (ImageManifest)ManifestContent.Parse(json.ToBytes(), mediaType, $"the registry test's {Platform} image");
    }

    private static void WriteDescriptor(GoJsonWriter json, string? name, string mediaType, byte[] blob, bool docker)
    {
        if (name is not null)
        {
            json.Name(name);
        }

        json.StartObject();
        json.Property("mediaType", mediaType);
        if (docker)
        {
            json.Property("size", blob.Length);
            json.Property("digest", Digest.FromContent(blob).ToString());
        }
        else
        {
            json.Property("digest", Digest.FromContent(blob).ToString());
            json.Property("size", blob.Length);
        }

        json.EndObject();
    }

    private static byte[] ConfigJson(Platform platform, string runId, Digest diffId)
    {
        var json = new GoJsonWriter();
        json.StartObject();
        json.Property("architecture", platform.Architecture);
        json.Property("os", platform.Os);
        if (platform.Variant is not null)
        {
            json.Property("variant", platform.Variant);
        }

        json.Name("config");
        json.StartObject();
        json.StringMap("Labels", new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["org.opencontainers.image.description"] = $"MultiArch.Build.Tasks registry test image, run {runId}",
        });
        json.EndObject();
        json.Name("rootfs");
        json.StartObject();
        json.Property("type", "layers");
        json.StringArray("diff_ids", [diffId.ToString()]);
        json.EndObject();
        json.EndObject();
        return json.ToBytes();
    }

    /// <summary>A POSIX (ustar) archive of one regular file, mode 0644, owner 0, time 0.</summary>
    private static byte[] Tar(string name, string text)
    {
        var content = Encoding.UTF8.GetBytes(text);
        var header = new byte[512];
        void Field(int offset, int length, string value) => Encoding.ASCII.GetBytes(value.PadRight(length, '\0')[..length]).CopyTo(header, offset);
        string Octal(long value, int digits) => Convert.ToString(value, 8).PadLeft(digits, '0');
        Field(0, 100, name);
        Field(100, 8, Octal(0b110_100_100, 7));
        Field(108, 8, Octal(0, 7));
        Field(116, 8, Octal(0, 7));
        Field(124, 12, Octal(content.Length, 11));
        Field(136, 12, Octal(0, 11));
        Field(148, 8, "        ");
        header[156] = (byte)'0';
        Field(257, 6, "ustar");
        Field(263, 2, "00");
        var checksum = header.Sum(b => b);
        Field(148, 8, Octal(checksum, 6) + "\0 ");

        var padded = (content.Length + 511) / 512 * 512;
        var tar = new byte[512 + padded + 1024];
        header.CopyTo(tar, 0);
        content.CopyTo(tar, 512);
        return tar;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}

/// <summary>
/// The OCI 1.1 artifact the referrers check pushes: an empty config (<c>{}</c>), one small JSON layer, an
/// <c>artifactType</c>, and a <c>subject</c> naming one of the test images.
/// </summary>
internal sealed class RegistryTestArtifact
{
    public const string ArtifactType = "application/vnd.multiarch.registry-test.v1+json";
    public const string EmptyMediaType = "application/vnd.oci.empty.v1+json";

    public RegistryTestArtifact(Descriptor subject, string runId)
    {
        Subject = subject;
        Note = Encoding.UTF8.GetBytes($"{{\"run\":\"{runId}\",\"check\":\"referrers\"}}");
        var json = new GoJsonWriter();
        json.StartObject();
        json.Property("schemaVersion", 2);
        json.Property("mediaType", MediaTypes.OciManifest);
        json.Property("artifactType", ArtifactType);
        Write(json, "config", EmptyMediaType, Empty);
        json.Name("layers");
        json.StartArray();
        Write(json, null, ArtifactType, Note);
        json.EndArray();
        json.Name("subject");
        json.StartObject();
        json.Property("mediaType", subject.MediaType);
        json.Property("digest", subject.Digest.ToString());
        json.Property("size", subject.Size);
        json.EndObject();
        json.EndObject();
        Manifest = (ImageManifest)ManifestContent.Parse(json.ToBytes(), MediaTypes.OciManifest, "the registry test's referrer");
    }

    /// <summary>The empty JSON object every OCI artifact without a config points at.</summary>
    public static byte[] Empty { get; } = "{}"u8.ToArray();

    public Descriptor Subject { get; }

    public byte[] Note { get; }

    public IReadOnlyList<byte[]> Blobs => [Empty, Note];

    public ImageManifest Manifest { get; }

    private static void Write(GoJsonWriter json, string? name, string mediaType, byte[] blob)
    {
        if (name is not null)
        {
            json.Name(name);
        }

        json.StartObject();
        json.Property("mediaType", mediaType);
        json.Property("digest", Digest.FromContent(blob).ToString());
        json.Property("size", blob.Length);
        json.EndObject();
    }
}
