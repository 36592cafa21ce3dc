using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Which family of media types an image or index uses.</summary>
public enum ImageFormat
{
    /// <summary>OCI image manifest / image index, OCI config and layer types.</summary>
    Oci,

    /// <summary>Docker schema2 manifest / manifest list, Docker config and layer types.</summary>
    Docker,
}

/// <summary>A blob (config, layer) with its digest and media type.</summary>
internal sealed record TestBlob(byte[] Bytes, Digest Digest, string MediaType)
{
    public long Size => Bytes.Length;

    public Descriptor ToDescriptor() => new(MediaType, Digest, Size);
}

/// <summary>A single-platform image: manifest bytes plus everything the manifest points at.</summary>
internal sealed record TestImage(byte[] Manifest, string MediaType, Digest Digest, byte[] Config, Digest ConfigDigest, IReadOnlyList<TestBlob> Layers, Platform Platform)
{
    public long Size => Manifest.Length;

    public string ConfigMediaType => MediaType == MediaTypes.DockerManifest ? MediaTypes.DockerConfig : MediaTypes.OciConfig;

    /// <summary>The config and the layers.</summary>
    public IEnumerable<TestBlob> Blobs => Layers.Prepend(new TestBlob(Config, ConfigDigest, ConfigMediaType));

    /// <summary>A descriptor for an index entry, with the platform.</summary>
    public Descriptor ToDescriptor() => new(MediaType, Digest, Size) { Platform = Platform };
}

/// <summary>An image index (OCI) or manifest list (Docker) with its images and the optional attestation manifest.</summary>
internal sealed record TestIndex(byte[] Bytes, string MediaType, Digest Digest, IReadOnlyList<TestImage> Images, TestImage? Attestation)
{
    public long Size => Bytes.Length;

    /// <summary>The images and then the attestation manifest, in index order.</summary>
    public IEnumerable<TestImage> Manifests => Attestation is null ? Images : Images.Append(Attestation);
}

/// <summary>
/// Makes small, valid, deterministic images: the same arguments always give the same bytes and digests
/// (fixed tar headers and mtimes, fixed JSON key order, no timestamps from the clock).
/// </summary>
internal static class TestImages
{
    public const string InTotoMediaType = "application/vnd.in-toto+json";
    public const string InTotoPredicateTypeAnnotation = "in-toto.io/predicate-type";
    public const string SpdxPredicateType = "https://spdx.dev/Document";
    public const string Created = "2024-01-01T00:00:00Z";

    public static readonly Platform LinuxAmd64 = new("linux", "amd64");
    public static readonly Platform LinuxArm64 = new("linux", "arm64", "v8");
    public static readonly Platform LinuxArmV7 = new("linux", "arm", "v7");
    public static readonly Platform WindowsAmd64 = new("windows", "amd64", osVersion: "10.0.20348.2113", osFeatures: ["win32k"]);
    public static readonly Platform Unknown = new("unknown", "unknown");

    /// <summary>linux/amd64, linux/arm64/v8, linux/arm/v7.</summary>
    public static readonly IReadOnlyList<Platform> LinuxPlatforms = [LinuxAmd64, LinuxArm64, LinuxArmV7];

    /// <summary>The three Linux presets and windows/amd64 (os.version 10.0.20348.2113, os.features win32k).</summary>
    public static readonly IReadOnlyList<Platform> AllPlatforms = [LinuxAmd64, LinuxArm64, LinuxArmV7, WindowsAmd64];

    private static readonly JsonWriterOptions _compactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// An image for <paramref name="platform"/> with one layer whose file content depends on the platform and
    /// <paramref name="seed"/>. Different seeds give different layers, configs and digests.
    /// </summary>
    /// <remarks>
    /// Each of <paramref name="sharedLayers"/> adds a layer holding one file, <c>shared</c>, with that text: the same bytes
    /// whatever the platform or seed, so images made with the same text share that blob (as real images share a base or
    /// an app layer).
    /// </remarks>
    public static TestImage Image(Platform platform, string seed = "default", ImageFormat format = ImageFormat.Oci, IReadOnlyDictionary<string, string>? labels = null, IReadOnlyList<string>? sharedLayers = null)
    {
        var layerType = format == ImageFormat.Docker ? MediaTypes.DockerLayer : MediaTypes.OciLayer;
        var tars = new[] { LayerTar(platform, seed) }.Concat((sharedLayers ?? []).Select(text => Tar("shared", Encoding.UTF8.GetBytes(text)))).ToList();
        List<TestBlob> layers = [.. tars.Select(tar => Blob(Gzip(tar), layerType))];
        var config = ConfigJson(platform, [.. tars.Select(tar => Digest.FromContent(tar))], labels);
        var configMediaType = format == ImageFormat.Docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig;
        var manifestMediaType = format == ImageFormat.Docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest;
        var manifest = ManifestJson(manifestMediaType, new TestBlob(config, Digest.FromContent(config), configMediaType), layers, layerAnnotations: null);
        return new TestImage(manifest, manifestMediaType, Digest.FromContent(manifest), config, Digest.FromContent(config), layers, platform);
    }

    /// <summary>An index over one image per platform (all made with <paramref name="seed"/>), optionally with an attestation manifest.</summary>
    public static TestIndex Index(IEnumerable<Platform> platforms, string seed = "default", ImageFormat format = ImageFormat.Oci, bool withAttestation = false) =>
        Index([.. platforms.Select(p => Image(p, seed, format))], format, withAttestation);

    /// <summary>
    /// An index over <paramref name="images"/>, in order. With <paramref name="withAttestation"/> a BuildKit-style
    /// attestation manifest for the first image is appended (platform unknown/unknown, <c>vnd.docker.reference.*</c>
    /// annotations). Attestation manifests are always OCI manifests, as BuildKit makes them.
    /// </summary>
    public static TestIndex Index(IReadOnlyList<TestImage> images, ImageFormat format = ImageFormat.Oci, bool withAttestation = false)
    {
        if (images.Count == 0)
        {
            throw new ArgumentException("An index needs at least one image.", nameof(images));
        }

        var attestation = withAttestation ? AttestationFor(images[0]) : null;
        var mediaType = format == ImageFormat.Docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex;
        var bytes = Json(writer =>
        {
            writer.WriteNumber("schemaVersion", 2);
            writer.WriteString("mediaType", mediaType);
            writer.WriteStartArray("manifests");
            foreach (var image in images)
            {
                WriteDescriptor(writer, image.MediaType, image.Digest, image.Size, annotations: null, image.Platform);
            }

            if (attestation is not null)
            {
                WriteDescriptor(writer, attestation.MediaType, attestation.Digest, attestation.Size, new SortedDictionary<string, string>(StringComparer.Ordinal)
                {
                    [Descriptor.ReferenceDigestAnnotation] = images[0].Digest.ToString(),
                    [Descriptor.ReferenceTypeAnnotation] = "attestation-manifest",
                }, attestation.Platform);
            }

            writer.WriteEndArray();
        });
        return new TestIndex(bytes, mediaType, Digest.FromContent(bytes), images, attestation);
    }

    /// <summary>
    /// A BuildKit-style attestation manifest for <paramref name="subject"/>: an OCI manifest with an
    /// unknown/unknown config and one <c>application/vnd.in-toto+json</c> layer (an SPDX statement naming the subject).
    /// </summary>
    public static TestImage AttestationFor(TestImage subject)
    {
        var statement = Json(writer =>
        {
            writer.WriteString("_type", "https://in-toto.io/Statement/v0.1");
            writer.WriteString("predicateType", SpdxPredicateType);
            writer.WriteStartArray("subject");
            writer.WriteStartObject();
            writer.WriteString("name", "pkg:docker/multiarch-test@" + subject.Platform.ToString().Replace('/', '-'));
            writer.WriteStartObject("digest");
            writer.WriteString(subject.Digest.Algorithm, subject.Digest.Hex);
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteStartObject("predicate");
            writer.WriteString("spdxVersion", "SPDX-2.3");
            writer.WriteString("name", "multiarch-test");
            writer.WriteEndObject();
        });
        var layer = Blob(statement, InTotoMediaType);
        var config = Json(writer =>
        {
            writer.WriteString("architecture", Unknown.Architecture);
            writer.WriteString("os", Unknown.Os);
            writer.WriteStartObject("config");
            writer.WriteEndObject();
            writer.WriteStartObject("rootfs");
            writer.WriteString("type", "layers");
            writer.WriteStartArray("diff_ids");
            writer.WriteStringValue(layer.Digest.ToString());
            writer.WriteEndArray();
            writer.WriteEndObject();
        });
        var annotations = new Dictionary<string, string> { [InTotoPredicateTypeAnnotation] = SpdxPredicateType };
        var manifest = ManifestJson(MediaTypes.OciManifest, new TestBlob(config, Digest.FromContent(config), MediaTypes.OciConfig), [layer], [annotations]);
        return new TestImage(manifest, MediaTypes.OciManifest, Digest.FromContent(manifest), config, Digest.FromContent(config), [layer], Unknown);
    }

    /// <summary>The uncompressed layer: a ustar archive with one file, <c>hello</c>, mode 0644, uid/gid 0, mtime 0.</summary>
    public static byte[] LayerTar(Platform platform, string seed)
    {
        var text = new StringBuilder("hello from ").Append(platform.Os).Append('/').Append(platform.Architecture);
        if (platform.Variant is not null)
        {
            text.Append('/').Append(platform.Variant);
        }

        if (platform.OsVersion is not null)
        {
            text.Append(' ').Append(platform.OsVersion);
        }

        text.Append(" (seed ").Append(seed).Append(")\n");
        var content = Encoding.UTF8.GetBytes(text.ToString());
        return Tar("hello", content);
    }

    /// <summary>A ustar archive holding one regular file; every header field is fixed except name, size and checksum.</summary>
    public static byte[] Tar(string name, byte[] content)
    {
        if (Encoding.ASCII.GetByteCount(name) > 100)
        {
            throw new ArgumentException("A ustar name is at most 100 bytes.", nameof(name));
        }

        var header = new byte[512];
        Write(header, 0, name);
        Write(header, 100, "0000644\0");
        Write(header, 108, "0000000\0");
        Write(header, 116, "0000000\0");
        Write(header, 124, Convert.ToString(content.Length, 8).PadLeft(11, '0') + "\0");
        Write(header, 136, "00000000000\0");
        Write(header, 148, "        "); // checksum counts as spaces while it is computed
        header[156] = (byte)'0';
        Write(header, 257, "ustar\0");
        Write(header, 263, "00");
        Write(header, 265, "root");
        Write(header, 297, "root");
        var checksum = header.Sum(b => (int)b);
        Write(header, 148, Convert.ToString(checksum, 8).PadLeft(6, '0') + "\0 ");

        var padded = (content.Length + 511) / 512 * 512;
        var tar = new byte[512 + padded + 1024];
        header.CopyTo(tar, 0);
        content.CopyTo(tar, 512);
        return tar;

        static void Write(byte[] buffer, int offset, string text) => Encoding.ASCII.GetBytes(text, buffer.AsSpan(offset));
    }

    /// <summary>
    /// gzip via <see cref="GZipStream"/>: no file name, mtime 0, and the header's OS byte set to 255 ("unknown", as Go's
    /// gzip writes it) instead of the build platform's code, so the bytes depend only on the input and the runtime's
    /// zlib. (A different zlib version could still compress differently; nothing here pins compressed digests.)
    /// </summary>
    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }

        var bytes = output.ToArray();
        bytes[9] = 0xff; // RFC 1952 OS field; not covered by the CRC (which is over the uncompressed data)
        return bytes;
    }

    /// <summary>
    /// The image config, compact, keys in a fixed order: architecture, os, variant?, os.version?, os.features?,
    /// created, config {Cmd, Labels?}, rootfs {type, diff_ids}.
    /// </summary>
    public static byte[] ConfigJson(Platform platform, IReadOnlyList<Digest> diffIds, IReadOnlyDictionary<string, string>? labels = null) => Json(writer =>
    {
        writer.WriteString("architecture", platform.Architecture);
        writer.WriteString("os", platform.Os);
        if (platform.Variant is not null)
        {
            writer.WriteString("variant", platform.Variant);
        }

        if (platform.OsVersion is not null)
        {
            writer.WriteString("os.version", platform.OsVersion);
        }

        if (!platform.OsFeatures.IsDefaultOrEmpty)
        {
            WriteStrings(writer, "os.features", platform.OsFeatures);
        }

        writer.WriteString("created", Created);
        writer.WriteStartObject("config");
        WriteStrings(writer, "Cmd", ["/hello"]);
        if (labels is { Count: > 0 })
        {
            writer.WriteStartObject("Labels");
            foreach (var (key, value) in labels.OrderBy(l => l.Key, StringComparer.Ordinal))
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        writer.WriteStartObject("rootfs");
        writer.WriteString("type", "layers");
        WriteStrings(writer, "diff_ids", diffIds.Select(d => d.ToString()));
        writer.WriteEndObject();
    });

    private static byte[] ManifestJson(string mediaType, TestBlob config, IReadOnlyList<TestBlob> layers, IReadOnlyList<IReadOnlyDictionary<string, string>?>? layerAnnotations) => Json(writer =>
    {
        writer.WriteNumber("schemaVersion", 2);
        writer.WriteString("mediaType", mediaType);
        writer.WritePropertyName("config");
        WriteDescriptor(writer, config.MediaType, config.Digest, config.Size, annotations: null, platform: null);
        writer.WriteStartArray("layers");
        for (var i = 0; i < layers.Count; i++)
        {
            WriteDescriptor(writer, layers[i].MediaType, layers[i].Digest, layers[i].Size, layerAnnotations?[i], platform: null);
        }

        writer.WriteEndArray();
    });

    /// <summary>Docker types write <c>mediaType, size, digest</c> (as the Docker daemon does); OCI types <c>mediaType, digest, size</c>.</summary>
    private static void WriteDescriptor(Utf8JsonWriter writer, string mediaType, Digest digest, long size, IReadOnlyDictionary<string, string>? annotations, Platform? platform)
    {
        writer.WriteStartObject();
        writer.WriteString("mediaType", mediaType);
        if (mediaType.StartsWith("application/vnd.docker.", StringComparison.Ordinal))
        {
            writer.WriteNumber("size", size);
            writer.WriteString("digest", digest.ToString());
        }
        else
        {
            writer.WriteString("digest", digest.ToString());
            writer.WriteNumber("size", size);
        }

        if (annotations is { Count: > 0 })
        {
            writer.WriteStartObject("annotations");
            foreach (var (key, value) in annotations.OrderBy(a => a.Key, StringComparer.Ordinal))
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
        }

        if (platform is not null)
        {
            writer.WriteStartObject("platform");
            writer.WriteString("architecture", platform.Architecture);
            writer.WriteString("os", platform.Os);
            if (platform.OsVersion is not null)
            {
                writer.WriteString("os.version", platform.OsVersion);
            }

            if (!platform.OsFeatures.IsDefaultOrEmpty)
            {
                WriteStrings(writer, "os.features", platform.OsFeatures);
            }

            if (platform.Variant is not null)
            {
                writer.WriteString("variant", platform.Variant);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, IEnumerable<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }

    private static TestBlob Blob(byte[] bytes, string mediaType) => new(bytes, Digest.FromContent(bytes), mediaType);

    private static byte[] Json(Action<Utf8JsonWriter> writeProperties)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, _compactJson))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
