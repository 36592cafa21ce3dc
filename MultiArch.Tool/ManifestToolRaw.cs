using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks;
using MultiArch.Build.Tasks.Inspection;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;

namespace MultiArch.Tool;

/// <summary>
/// manifest-tool's <c>inspect --raw</c> JSON (notes §6.4): the manifest re-serialised the way Go's image-spec structs
/// marshal (their field order, empty fields left out, map keys sorted, <c>&lt; &gt; &amp;</c> escaped), with the
/// name and digest on top, four-space indent and a final newline. For a list: every child manifest, no platforms.
/// </summary>
internal static class ManifestToolRaw
{
    public static string Format(InspectResult result, ReadOnlyMemory<byte>? expandedConfig)
    {
        var json = new GoJsonWriter();
        json.StartObject();
        switch (result.Root)
        {
            case ImageManifest manifest:
                using (var document = JsonDocument.Parse(manifest.Raw))
                {
                    var root = document.RootElement;
                    if (expandedConfig is { } config)
                    {
                        json.Property("schemaVersion", SchemaVersion(root));
                        WriteHeader(json, result);
                        OptionalString(json, root, "mediaType");
                        json.Name("config");
                        using var configDocument = JsonDocument.Parse(config);
                        WriteImageConfig(json, configDocument.RootElement);
                        WriteManifestTail(json, root);
                    }
                    else
                    {
                        WriteHeader(json, result);
                        WriteManifestFields(json, root);
                    }
                }

                break;
            case ImageIndex index:
                json.Property("name", result.Name);
                json.Property("digest", index.Digest.ToString());
                using (var document = JsonDocument.Parse(index.Raw))
                {
                    json.Property("schemaVersion", SchemaVersion(document.RootElement));
                    OptionalString(json, document.RootElement, "mediaType");
                    json.Name("manifests");
                    json.StartArray();
                    foreach (var (child, number) in result.Children.Select((c, i) => (c, i + 1)))
                    {
                        if (child.Manifest is not ImageManifest childManifest)
                        {
                            throw MultiArchException.Create(MessageId.CliRawCannotShow, number, result.Name, child.Descriptor.MediaType);
                        }

                        using var childDocument = JsonDocument.Parse(childManifest.Raw);
                        json.StartObject();
                        WriteManifestFields(json, childDocument.RootElement);
                        json.EndObject();
                    }

                    json.EndArray();
                    OptionalMap(json, document.RootElement, "annotations");
                }

                break;
            default:
                throw MultiArchException.Create(MessageId.UnsupportedMediaType, result.Name, result.Root.MediaType);
        }

        json.EndObject();
        return FourSpaces(json.ToString()) + "\n";
    }

    private static void WriteHeader(GoJsonWriter json, InspectResult result)
    {
        json.Property("name", result.Name);
        json.Property("digest", result.Root.Digest.ToString());
        json.Property("os", result.RootConfig?.Platform.Os ?? string.Empty);
        json.Property("architecture", result.RootConfig?.Platform.Architecture ?? string.Empty);
    }

    /// <summary>image-spec's <c>Manifest</c>: schemaVersion, mediaType, artifactType, config, layers, subject, annotations.</summary>
    private static void WriteManifestFields(GoJsonWriter json, JsonElement manifest)
    {
        json.Property("schemaVersion", SchemaVersion(manifest));
        OptionalString(json, manifest, "mediaType");
        OptionalString(json, manifest, "artifactType");
        json.Name("config");
        WriteDescriptor(json, manifest.TryGetProperty("config", out var config) ? config : default);
        WriteManifestTail(json, manifest);
    }

    private static void WriteManifestTail(GoJsonWriter json, JsonElement manifest)
    {
        json.Name("layers");
        json.StartArray();
        if (manifest.TryGetProperty("layers", out var layers) && layers.ValueKind == JsonValueKind.Array)
        {
            foreach (var layer in layers.EnumerateArray())
            {
                WriteDescriptor(json, layer);
            }
        }

        json.EndArray();
        if (manifest.TryGetProperty("subject", out var subject) && subject.ValueKind == JsonValueKind.Object)
        {
            json.Name("subject");
            WriteDescriptor(json, subject);
        }

        OptionalMap(json, manifest, "annotations");
    }

    /// <summary>image-spec's <c>Descriptor</c>: mediaType, digest, size, urls, annotations, data, platform, artifactType.</summary>
    private static void WriteDescriptor(GoJsonWriter json, JsonElement descriptor)
    {
        json.StartObject();
        if (descriptor.ValueKind == JsonValueKind.Object)
        {
            json.Property("mediaType", String(descriptor, "mediaType"));
            json.Property("digest", String(descriptor, "digest"));
            json.Property("size", descriptor.TryGetProperty("size", out var size) && size.TryGetInt64(out var bytes) ? bytes : 0);
            OptionalStrings(json, descriptor, "urls");
            OptionalMap(json, descriptor, "annotations");
            OptionalString(json, descriptor, "data");
            if (descriptor.TryGetProperty("platform", out var platform) && platform.ValueKind == JsonValueKind.Object)
            {
                json.Name("platform");
                json.StartObject();
                WritePlatformFields(json, platform);
                json.EndObject();
            }

            OptionalString(json, descriptor, "artifactType");
        }

        json.EndObject();
    }

    /// <summary>image-spec's <c>Platform</c>: architecture, os, os.version, os.features, variant.</summary>
    private static void WritePlatformFields(GoJsonWriter json, JsonElement platform)
    {
        json.Property("architecture", String(platform, "architecture"));
        json.Property("os", String(platform, "os"));
        OptionalString(json, platform, "os.version");
        OptionalStrings(json, platform, "os.features");
        OptionalString(json, platform, "variant");
    }

    /// <summary>image-spec's <c>Image</c> (the config blob): unknown keys are dropped, as Go's re-serialisation drops them.</summary>
    private static void WriteImageConfig(GoJsonWriter json, JsonElement image)
    {
        json.StartObject();
        OptionalString(json, image, "created");
        OptionalString(json, image, "author");
        WritePlatformFields(json, image);
        json.Name("config");
        json.StartObject();
        if (image.TryGetProperty("config", out var config) && config.ValueKind == JsonValueKind.Object)
        {
            OptionalString(json, config, "User");
            OptionalSet(json, config, "ExposedPorts");
            OptionalStrings(json, config, "Env");
            OptionalStrings(json, config, "Entrypoint");
            OptionalStrings(json, config, "Cmd");
            OptionalSet(json, config, "Volumes");
            OptionalString(json, config, "WorkingDir");
            OptionalMap(json, config, "Labels");
            OptionalString(json, config, "StopSignal");
            if (config.TryGetProperty("ArgsEscaped", out var escaped) && escaped.ValueKind == JsonValueKind.True)
            {
                json.Property("ArgsEscaped", true);
            }
        }

        json.EndObject();
        json.Name("rootfs");
        json.StartObject();
        var rootfs = image.TryGetProperty("rootfs", out var r) && r.ValueKind == JsonValueKind.Object ? r : default;
        json.Property("type", rootfs.ValueKind == JsonValueKind.Object ? String(rootfs, "type") : string.Empty);
        json.Name("diff_ids");
        json.StartArray();
        if (rootfs.ValueKind == JsonValueKind.Object && rootfs.TryGetProperty("diff_ids", out var ids) && ids.ValueKind == JsonValueKind.Array)
        {
            foreach (var id in ids.EnumerateArray())
            {
                json.String(id.GetString() ?? string.Empty);
            }
        }

        json.EndArray();
        json.EndObject();
        if (image.TryGetProperty("history", out var history) && history.ValueKind == JsonValueKind.Array && history.GetArrayLength() > 0)
        {
            json.Name("history");
            json.StartArray();
            foreach (var entry in history.EnumerateArray())
            {
                json.StartObject();
                OptionalString(json, entry, "created");
                OptionalString(json, entry, "created_by");
                OptionalString(json, entry, "author");
                OptionalString(json, entry, "comment");
                if (entry.TryGetProperty("empty_layer", out var empty) && empty.ValueKind == JsonValueKind.True)
                {
                    json.Property("empty_layer", true);
                }

                json.EndObject();
            }

            json.EndArray();
        }

        json.EndObject();
    }

    private static long SchemaVersion(JsonElement element) =>
        element.TryGetProperty("schemaVersion", out var version) && version.TryGetInt64(out var value) ? value : 0;

    private static string String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : string.Empty;

    private static void OptionalString(GoJsonWriter json, JsonElement element, string name)
    {
        if (String(element, name) is { Length: > 0 } value)
        {
            json.Property(name, value);
        }
    }

    private static void OptionalStrings(GoJsonWriter json, JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var values) && values.ValueKind == JsonValueKind.Array && values.GetArrayLength() > 0)
        {
            json.StringArray(name, values.EnumerateArray().Select(v => v.GetString() ?? string.Empty));
        }
    }

    private static void OptionalMap(GoJsonWriter json, JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var map) && map.ValueKind == JsonValueKind.Object && map.EnumerateObject().Any())
        {
            json.StringMap(name, map.EnumerateObject()
                .Select(p => KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()))
                .OrderBy(p => p.Key, StringComparer.Ordinal));
        }
    }

    /// <summary>A Go <c>map[string]struct{}</c> (ExposedPorts, Volumes): sorted keys, each <c>{}</c>.</summary>
    private static void OptionalSet(GoJsonWriter json, JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var set) && set.ValueKind == JsonValueKind.Object && set.EnumerateObject().Any())
        {
            json.Name(name);
            json.StartObject();
            foreach (var key in set.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal))
            {
                json.Name(key);
                json.StartObject();
                json.EndObject();
            }

            json.EndObject();
        }
    }

    /// <summary>Go's <c>json.MarshalIndent(v, "", "    ")</c>: the writer's two-space indent doubled (strings hold no raw newline).</summary>
    private static string FourSpaces(string text)
    {
        var result = new StringBuilder(text.Length * 3 / 2);
        foreach (var line in text.Split('\n'))
        {
            var indent = line.Length - line.TrimStart(' ').Length;
            if (result.Length > 0)
            {
                result.Append('\n');
            }

            result.Append(' ', indent * 2).Append(line, indent, line.Length - indent);
        }

        return result.ToString();
    }
}
