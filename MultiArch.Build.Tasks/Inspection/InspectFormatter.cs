using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Inspection;

/// <summary>
/// Renders an <see cref="InspectResult"/> as text (manifest-tool's <c>inspect</c> layout), as JSON
/// (our own schema, docs/inspect-json.md) or as the raw root bytes. Every line ends with <c>\n</c> on every OS.
/// </summary>
internal static class InspectFormatter
{
    /// <summary>The formats of the task and the command line: <c>text</c>, <c>json</c> and <c>raw</c>.</summary>
    public static bool IsFormat(string format) => format is "text" or "json" or "raw";

    /// <summary>Whether <paramref name="format"/> shows the children's configs (only <c>json</c>), so they are read.</summary>
    public static bool ShowsChildConfigs(string format) => format == "json";

    /// <summary><paramref name="result"/> in one of the formats <see cref="IsFormat"/> accepts.</summary>
    public static string Format(InspectResult result, string format) => format switch
    {
        "json" => FormatJson(result),
        "raw" => Encoding.UTF8.GetString(result.Root.Raw.Span),
        _ => FormatText(result),
    };

    /// <summary>The <c>schemaVersion</c> of <see cref="FormatJson"/>'s output; raised only for incompatible changes.</summary>
    public const int JsonSchemaVersion = 1;

    /// <summary>
    /// manifest-tool's <c>inspect</c> text, byte for byte, without colours. For an index, the platform shown for each
    /// entry is the index descriptor's, every entry block ends with a blank line (so the text ends with <c>\n\n</c>),
    /// and "images" counts every entry that is not an attestation. For a single image, OS and architecture come from
    /// the config. Where manifest-tool crashes or shows nothing useful we print:
    /// <list type="bullet">
    /// <item>an image or nested index whose descriptor has no platform: <c>[i] Platform: (none)</c>, followed by
    /// <c>; config: os/arch[/variant]</c> inside the parentheses when the child's config is known (manifest-tool panics);</item>
    /// <item>a nested index: its platform block, <c>[i] # Manifests: N</c> and one <c>manifest NN</c> entry per child
    /// with digest, type and platform, or the subject for an attestation (manifest-tool prints "Unknown media type");</item>
    /// <item>an attestation: its line whatever its media type, <c>(none)</c> when it names no subject;</item>
    /// <item>a child of an unknown media type: manifest-tool's <c>Unknown media type for further display: …</c>,
    /// followed by a blank line like every other block (manifest-tool leaves it out);</item>
    /// <item>an image manifest or index that was not fetched: its platform block and <c>[i] (manifest not available)</c>;</item>
    /// <item>a single image without a config: <c>(unknown)</c> for OS and architecture.</item>
    /// </list>
    /// </summary>
    public static string FormatText(InspectResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = new StringBuilder();
        switch (result.Root)
        {
            case ImageIndex index:
                WriteIndexText(text, result, index);
                break;
            case ImageManifest manifest:
                WriteImageText(text, result, manifest);
                break;
            default:
                throw new ArgumentException($"Cannot show a root of type {result.Root.GetType().Name}.", nameof(result));
        }

        return text.ToString();
    }

    /// <summary>
    /// The documented JSON view (docs/inspect-json.md): fixed key order, absent or empty values left out, maps sorted
    /// by key, two-space indent, <c>\n</c> line endings and a final newline. The same result always gives the same text.
    /// </summary>
    public static string FormatJson(InspectResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var root = result.Root;
        var json = new GoJsonWriter();
        json.StartObject();
        json.Property("schemaVersion", JsonSchemaVersion);
        json.Property("name", result.Name);
        json.Property("reference", result.Reference.ToString());
        json.Property("digest", root.Digest.ToString());
        json.Property("mediaType", root.MediaType);
        json.Property("size", root.Size);
        OptionalMap(json, "annotations", root.Annotations);
        switch (root)
        {
            case ImageIndex:
                json.Name("manifests");
                json.StartArray();
                foreach (var child in result.Children)
                {
                    WriteEntryJson(json, child);
                }

                json.EndArray();
                break;
            case ImageManifest manifest:
                if (result.RootConfig is { } config)
                {
                    OptionalPlatform(json, config.Platform);
                }

                WriteImageJson(json, manifest, result.RootConfig);
                break;
            default:
                throw new ArgumentException($"Cannot show a root of type {root.GetType().Name}.", nameof(result));
        }

        json.EndObject();
        return json + "\n";
    }

    private static void WriteIndexText(StringBuilder text, InspectResult result, ImageIndex index)
    {
        var total = result.Children.Count;
        var attestations = result.Children.Count(c => c.Descriptor.IsAttestation);
        var images = total - attestations;
        Line(text, $"Name:   {result.Name} (Type: {index.MediaType})");
        Line(text, $"Digest: {index.Digest}");
        Line(text, $" * Contains {total} manifest references ({images} {Plural("image", images)}, {attestations} {Plural("attestation", attestations)}):");

        var number = 0;
        foreach (var child in result.Children)
        {
            WriteEntryText(text, ++number, child);
            text.Append('\n');
        }
    }

    private static void WriteEntryText(StringBuilder text, int number, InspectedChild child)
    {
        var n = $"[{number}]";
        var descriptor = child.Descriptor;
        var attestation = descriptor.IsAttestation;
        Line(text, $"{n}     Type: {descriptor.MediaType}{(attestation ? " (vnd.docker.reference.type=attestation-manifest)" : string.Empty)}");
        Line(text, $"{n}   Digest: {descriptor.Digest}");
        Line(text, $"{n}   Length: {descriptor.Size}");
        if (attestation)
        {
            Line(text, $"{n}       >>> Attestation for digest: {descriptor.AttestationSubject ?? "(none)"}");
            return;
        }

        if (child.Manifest is null && !MediaTypes.IsKnownManifest(descriptor.MediaType))
        {
            Line(text, $"Unknown media type for further display: {descriptor.MediaType}");
            return;
        }

        WritePlatformText(text, n, descriptor.Platform, child.Config);
        switch (child.Manifest)
        {
            case ImageManifest manifest:
                Line(text, $"{n} # Layers: {manifest.Layers.Length}");
                var layer = 0;
                foreach (var entry in manifest.Layers)
                {
                    layer++;
                    Line(text, $"     layer {TwoDigits(layer)}: digest = {entry.Digest}");
                    Line(text, $"                 type = {entry.MediaType}");
                }

                break;
            case ImageIndex nested:
                WriteNestedIndexText(text, n, nested);
                break;
            default:
                Line(text, $"{n} (manifest not available)");
                break;
        }
    }

    /// <summary>A nested index's entries, laid out like layers: number, digest, type, then platform or attestation subject.</summary>
    private static void WriteNestedIndexText(StringBuilder text, string n, ImageIndex nested)
    {
        Line(text, $"{n} # Manifests: {nested.Manifests.Length}");
        var item = 0;
        foreach (var entry in nested.Manifests)
        {
            item++;
            Line(text, $"     manifest {TwoDigits(item)}: digest = {entry.Digest}");
            Line(text, $"                    type = {entry.MediaType}");
            if (entry.IsAttestation)
            {
                Line(text, $"         attestation for = {entry.AttestationSubject ?? "(none)"}");
            }
            else if (entry.Platform is { } platform)
            {
                Line(text, $"                platform = {platform.ToDisplayString()}");
            }
        }
    }

    private static void WritePlatformText(StringBuilder text, string n, Platform? platform, ImageConfig? config)
    {
        if (platform is null)
        {
            var fromConfig = config is { Platform: { Os.Length: > 0, Architecture.Length: > 0 } configPlatform }
                ? $"; config: {configPlatform}"
                : string.Empty;
            Line(text, $"{n} Platform: (none{fromConfig})");
            return;
        }

        Line(text, $"{n} Platform:");
        Line(text, $"{n}    -      OS: {platform.Os}");
        if (platform.OsVersion is not null)
        {
            Line(text, $"{n}    - OS Vers: {platform.OsVersion}");
        }

        if (!platform.OsFeatures.IsDefaultOrEmpty)
        {
            // Go's %v of a string slice.
            Line(text, $"{n}    - OS Feat: [{string.Join(" ", platform.OsFeatures)}]");
        }

        Line(text, $"{n}    -    Arch: {platform.Architecture}");
        if (platform.Variant is not null)
        {
            Line(text, $"{n}    - Variant: {platform.Variant}");
        }
    }

    private static void WriteImageText(StringBuilder text, InspectResult result, ImageManifest manifest)
    {
        const string Unknown = "(unknown)";
        Line(text, $"Name: {result.Name} (Type: {manifest.MediaType})");
        Line(text, $"      Digest: {manifest.Digest}");
        Line(text, $"        Size: {manifest.Size}");
        Line(text, $"          OS: {result.RootConfig?.Platform.Os ?? Unknown}");
        Line(text, $"        Arch: {result.RootConfig?.Platform.Architecture ?? Unknown}");
        Line(text, $"    # Layers: {manifest.Layers.Length}");
        var layer = 0;
        foreach (var entry in manifest.Layers)
        {
            layer++;
            Line(text, $"      layer {TwoDigits(layer)}: digest = {entry.Digest}");
        }
    }

    private static void WriteEntryJson(GoJsonWriter json, InspectedChild child)
    {
        json.StartObject();
        WriteDescriptorJson(json, child.Descriptor);
        switch (child.Manifest)
        {
            case ImageManifest manifest:
                WriteImageJson(json, manifest, child.Config);
                break;
            case ImageIndex nested:
                json.Name("manifests");
                json.StartArray();
                foreach (var entry in nested.Manifests)
                {
                    json.StartObject();
                    WriteDescriptorJson(json, entry);
                    json.EndObject();
                }

                json.EndArray();
                break;
        }

        json.EndObject();
    }

    /// <summary>The fields every index entry has, in order: digest, mediaType, size, [artifactType], [platform], [annotations], attestation, [attestationFor].</summary>
    private static void WriteDescriptorJson(GoJsonWriter json, Descriptor descriptor)
    {
        json.Property("digest", descriptor.Digest.ToString());
        json.Property("mediaType", descriptor.MediaType);
        json.Property("size", descriptor.Size);
        OptionalString(json, "artifactType", descriptor.ArtifactType);
        OptionalPlatform(json, descriptor.Platform);
        OptionalMap(json, "annotations", descriptor.Annotations);
        json.Property("attestation", descriptor.IsAttestation);
        if (descriptor.IsAttestation)
        {
            OptionalString(json, "attestationFor", descriptor.AttestationSubject);
        }
    }

    private static void WriteImageJson(GoJsonWriter json, ImageManifest manifest, ImageConfig? config)
    {
        json.Name("config");
        json.StartObject();
        json.Property("digest", manifest.Config.Digest.ToString());
        json.Property("mediaType", manifest.Config.MediaType);
        json.Property("size", manifest.Config.Size);
        if (config is not null)
        {
            PlatformFields(json, config.Platform);
            OptionalString(json, "created", config.Created);
            OptionalString(json, "user", config.User);
            OptionalString(json, "workingDir", config.WorkingDir);
            OptionalStrings(json, "entrypoint", config.Entrypoint);
            OptionalStrings(json, "cmd", config.Cmd);
            OptionalStrings(json, "env", config.Env);
            OptionalStrings(json, "exposedPorts", config.ExposedPorts);
            OptionalMap(json, "labels", config.Labels);
        }

        json.EndObject();
        json.Name("layers");
        json.StartArray();
        foreach (var layer in manifest.Layers)
        {
            json.StartObject();
            json.Property("digest", layer.Digest.ToString());
            json.Property("mediaType", layer.MediaType);
            json.Property("size", layer.Size);
            OptionalMap(json, "annotations", layer.Annotations);
            OptionalStrings(json, "urls", layer.Urls);
            json.EndObject();
        }

        json.EndArray();
    }

    private static void OptionalPlatform(GoJsonWriter json, Platform? platform)
    {
        if (platform is null)
        {
            return;
        }

        json.Name("platform");
        json.StartObject();
        PlatformFields(json, platform);
        OptionalStrings(json, "features", platform.Features);
        json.EndObject();
    }

    /// <summary>The platform's fields as an image config and an index entry both name them.</summary>
    private static void PlatformFields(GoJsonWriter json, Platform platform)
    {
        OptionalString(json, "os", platform.Os);
        OptionalString(json, "architecture", platform.Architecture);
        OptionalString(json, "variant", platform.Variant);
        OptionalString(json, "os.version", platform.OsVersion);
        OptionalStrings(json, "os.features", platform.OsFeatures);
    }

    private static void OptionalString(GoJsonWriter json, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            json.Property(name, value);
        }
    }

    private static void OptionalStrings(GoJsonWriter json, string name, ImmutableArray<string> values)
    {
        if (!values.IsDefaultOrEmpty)
        {
            json.StringArray(name, values);
        }
    }

    private static void OptionalMap(GoJsonWriter json, string name, IReadOnlyDictionary<string, string> values)
    {
        if (values.Count > 0)
        {
            json.StringMap(name, values);
        }
    }

    private static string Plural(string word, int count) => count > 1 ? word + "s" : word;

    private static string TwoDigits(int value) => value.ToString("00", CultureInfo.InvariantCulture);

    /// <summary>Appends one line and <c>\n</c> (never <see cref="Environment.NewLine"/>), formatting numbers invariantly.</summary>
    private static void Line(StringBuilder text, FormattableString line) =>
        text.Append(line.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
