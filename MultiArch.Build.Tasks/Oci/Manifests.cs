using System.Collections.Immutable;
using System.Text.Json;

namespace MultiArch.Build.Tasks.Oci;

/// <summary>
/// A manifest or index exactly as read from (or written to) a registry. <see cref="Raw"/> holds the bytes;
/// <see cref="Digest"/> is always computed over them, never over a re-serialisation.
/// </summary>
internal abstract record ManifestContent(string MediaType, ReadOnlyMemory<byte> Raw)
{
    public Digest Digest { get; } = Digest.FromContent(Raw.Span);

    public long Size => Raw.Length;

    public ImmutableSortedDictionary<string, string> Annotations { get; init; } = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    public Descriptor ToDescriptor() => new(MediaType, Digest, Size);

    /// <summary>
    /// Parses manifest bytes. The media type is the body's <c>mediaType</c> field, else <paramref name="contentType"/>;
    /// when both are present they must agree.
    /// </summary>
    public static ManifestContent Parse(ReadOnlyMemory<byte> raw, string? contentType, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(raw, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw MultiArchException.Create(ex, MessageId.InvalidManifest, source, ex.Message);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw MultiArchException.Create(MessageId.InvalidManifest, source, "the document is not a JSON object");
            }

            var bodyType = OciJson.GetString(root, "mediaType");
            contentType = NormalizeContentType(contentType);
            if (bodyType is not null && contentType is not null && MediaTypes.IsKnownManifest(contentType) && bodyType != contentType)
            {
                throw MultiArchException.Create(MessageId.ContentTypeMismatch, source, contentType, bodyType);
            }

            var mediaType = bodyType ?? contentType;
            if (mediaType is null && root.TryGetProperty("manifests", out _))
            {
                mediaType = MediaTypes.OciIndex;
            }
            else if (mediaType is null && root.TryGetProperty("config", out _))
            {
                mediaType = MediaTypes.OciManifest;
            }

            try
            {
                return mediaType switch
                {
                    MediaTypes.OciIndex or MediaTypes.DockerManifestList => ImageIndex.FromJson(mediaType, raw, root),
                    MediaTypes.OciManifest or MediaTypes.DockerManifest => ImageManifest.FromJson(mediaType, raw, root),
                    _ => throw MultiArchException.Create(MessageId.UnsupportedMediaType, source, mediaType ?? "(none)"),
                };
            }
            catch (Exception ex) when (ex is InvalidOperationException or FormatException or KeyNotFoundException)
            {
                throw MultiArchException.Create(ex, MessageId.InvalidManifest, source, ex.Message);
            }
        }
    }

    public static string? NormalizeContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return null;
        }

        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        return (semicolon >= 0 ? contentType[..semicolon] : contentType).Trim();
    }
}

/// <summary>A single-platform image manifest (Docker schema2 or OCI).</summary>
internal sealed record ImageManifest(string MediaType, ReadOnlyMemory<byte> Raw, Descriptor Config, ImmutableArray<Descriptor> Layers)
    : ManifestContent(MediaType, Raw)
{
    public Descriptor? Subject { get; init; }

    public string? ArtifactType { get; init; }

    internal static ImageManifest FromJson(string mediaType, ReadOnlyMemory<byte> raw, JsonElement root)
    {
        if (!root.TryGetProperty("config", out var config))
        {
            throw new InvalidOperationException("the manifest has no 'config'");
        }

        var layers = root.TryGetProperty("layers", out var layerArray) && layerArray.ValueKind == JsonValueKind.Array
            ? layerArray.EnumerateArray().Select(OciJson.ReadDescriptor).ToImmutableArray()
            : [];
        return new ImageManifest(mediaType, raw, OciJson.ReadDescriptor(config), layers)
        {
            Subject = root.TryGetProperty("subject", out var subject) ? OciJson.ReadDescriptor(subject) : null,
            ArtifactType = OciJson.GetString(root, "artifactType"),
            Annotations = OciJson.ReadAnnotations(root),
        };
    }
}

/// <summary>An OCI image index or Docker manifest list.</summary>
internal sealed record ImageIndex(string MediaType, ReadOnlyMemory<byte> Raw, ImmutableArray<Descriptor> Manifests)
    : ManifestContent(MediaType, Raw)
{
    internal static ImageIndex FromJson(string mediaType, ReadOnlyMemory<byte> raw, JsonElement root)
    {
        var manifests = root.TryGetProperty("manifests", out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray().Select(OciJson.ReadDescriptor).ToImmutableArray()
            : throw new InvalidOperationException("the index has no 'manifests' array");
        return new ImageIndex(mediaType, raw, manifests) { Annotations = OciJson.ReadAnnotations(root) };
    }

    /// <summary>
    /// Serialises an index deterministically, field for field as manifest-tool does, so the same entries always give
    /// the same bytes and digest.
    /// </summary>
    public static ImageIndex Create(string mediaType, IReadOnlyList<Descriptor> manifests, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var docker = mediaType == MediaTypes.DockerManifestList;
        var json = new GoJsonWriter();
        json.StartObject();
        json.Property("schemaVersion", 2);
        json.Property("mediaType", mediaType);
        json.Name("manifests");
        json.StartArray();
        foreach (var entry in manifests)
        {
            json.StartObject();
            json.Property("mediaType", entry.MediaType);
            if (docker)
            {
                json.Property("size", entry.Size);
                json.Property("digest", entry.Digest.ToString());
            }
            else
            {
                json.Property("digest", entry.Digest.ToString());
                json.Property("size", entry.Size);
            }

            if (!entry.Urls.IsDefaultOrEmpty)
            {
                json.StringArray("urls", entry.Urls);
            }

            if (entry.Annotations.Count > 0)
            {
                json.StringMap("annotations", entry.Annotations);
            }

            if (entry.Platform is { } platform)
            {
                WritePlatform(json, platform);
            }

            if (!docker && entry.ArtifactType is not null)
            {
                json.Property("artifactType", entry.ArtifactType);
            }

            json.EndObject();
        }

        json.EndArray();
        if (annotations is { Count: > 0 })
        {
            json.StringMap("annotations", annotations);
        }

        json.EndObject();
        var bytes = json.ToBytes();
        return new ImageIndex(mediaType, bytes, [.. manifests])
        {
            Annotations = annotations is null
                ? ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal)
                : annotations.ToImmutableSortedDictionary(StringComparer.Ordinal),
        };
    }

    private static void WritePlatform(GoJsonWriter json, Platform platform)
    {
        json.Name("platform");
        json.StartObject();
        json.Property("architecture", platform.Architecture);
        json.Property("os", platform.Os);
        if (platform.OsVersion is not null)
        {
            json.Property("os.version", platform.OsVersion);
        }

        if (!platform.OsFeatures.IsDefaultOrEmpty)
        {
            json.StringArray("os.features", platform.OsFeatures);
        }

        if (platform.Variant is not null)
        {
            json.Property("variant", platform.Variant);
        }

        if (!platform.Features.IsDefaultOrEmpty)
        {
            json.StringArray("features", platform.Features);
        }

        json.EndObject();
    }
}

/// <summary>What an image config says about its platform and how it runs; unknown keys are ignored.</summary>
internal sealed record ImageConfig(Platform Platform)
{
    public string? Created { get; init; }

    public string? User { get; init; }

    public string? WorkingDir { get; init; }

    public ImmutableArray<string> Entrypoint { get; init; } = [];

    public ImmutableArray<string> Cmd { get; init; } = [];

    public ImmutableArray<string> Env { get; init; } = [];

    public ImmutableArray<string> ExposedPorts { get; init; } = [];

    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    public static ImageConfig Parse(ReadOnlyMemory<byte> raw, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(raw, new JsonDocumentOptions { MaxDepth = 64 });
            var root = document.RootElement;
            var platform = new Platform(
                OciJson.GetString(root, "os") ?? string.Empty,
                OciJson.GetString(root, "architecture") ?? string.Empty,
                OciJson.GetString(root, "variant"),
                OciJson.GetString(root, "os.version"),
                OciJson.GetStrings(root, "os.features"));
            var config = new ImageConfig(platform) { Created = OciJson.GetString(root, "created") };
            if (root.TryGetProperty("config", out var run) && run.ValueKind == JsonValueKind.Object)
            {
                config = config with
                {
                    User = OciJson.GetString(run, "User"),
                    WorkingDir = OciJson.GetString(run, "WorkingDir"),
                    Entrypoint = [.. OciJson.GetStrings(run, "Entrypoint")],
                    Cmd = [.. OciJson.GetStrings(run, "Cmd")],
                    Env = [.. OciJson.GetStrings(run, "Env")],
                    ExposedPorts = run.TryGetProperty("ExposedPorts", out var ports) && ports.ValueKind == JsonValueKind.Object
                        ? [.. ports.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)]
                        : [],
                    Labels = OciJson.ReadStringMap(run, "Labels"),
                };
            }

            return config;
        }
        catch (JsonException ex)
        {
            throw MultiArchException.Create(ex, MessageId.InvalidManifest, source, ex.Message);
        }
    }
}

/// <summary>Small helpers to read OCI JSON leniently (unknown fields ignored, wrong types rejected).</summary>
internal static class OciJson
{
    public static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static IEnumerable<string> GetStrings(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!).ToArray()
            : [];

    public static ImmutableSortedDictionary<string, string> ReadStringMap(JsonElement element, string name)
    {
        var builder = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (element.TryGetProperty(name, out var map) && map.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in map.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.String)
                {
                    builder[property.Name] = property.Value.GetString()!;
                }
            }
        }

        return builder.ToImmutable();
    }

    public static ImmutableSortedDictionary<string, string> ReadAnnotations(JsonElement element) => ReadStringMap(element, "annotations");

    public static Descriptor ReadDescriptor(JsonElement element)
    {
        var mediaType = GetString(element, "mediaType") ?? throw new InvalidOperationException("a descriptor has no 'mediaType'");
        var digestText = GetString(element, "digest") ?? throw new InvalidOperationException("a descriptor has no 'digest'");
        if (!Digest.TryParse(digestText, out var digest, out var reason))
        {
            throw new InvalidOperationException($"a descriptor has an invalid digest '{digestText}': {reason}");
        }

        if (!element.TryGetProperty("size", out var sizeElement) || !sizeElement.TryGetInt64(out var size) || size < 0)
        {
            throw new InvalidOperationException($"the descriptor {digestText} has no valid 'size'");
        }

        Platform? platform = null;
        if (element.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            platform = new Platform(
                GetString(p, "os") ?? string.Empty,
                GetString(p, "architecture") ?? string.Empty,
                GetString(p, "variant"),
                GetString(p, "os.version"),
                GetStrings(p, "os.features"),
                GetStrings(p, "features"));
        }

        return new Descriptor(mediaType, digest, size)
        {
            Platform = platform,
            Annotations = ReadAnnotations(element),
            ArtifactType = GetString(element, "artifactType"),
            Urls = [.. GetStrings(element, "urls")],
        };
    }
}
