using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>
/// Reads a manifest spec (YAML or JSON; docs/manifest-spec.md) into a <see cref="ManifestSpec"/>.
/// Every problem is a <see cref="MultiArchException"/> with a MULTIARCH3xxx code whose message starts with
/// <c>file(line,col)</c>: 3001 file missing, 3002 not YAML, 3003 unknown key, 3004 wrong type, 3005 required value
/// missing, 3006 over a limit, 3007 invalid value, 3008 file unreadable.
/// </summary>
internal static class ManifestSpecReader
{
    /// <summary>The largest spec read: 1 MiB of UTF-8 (a spec of 100 entries is about 10 KiB).</summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>How deep mappings and sequences may nest; a spec needs 5.</summary>
    public const int MaxDepth = 32;

    /// <summary>How many nodes the document may have, counting each alias as a copy of what it refers to.</summary>
    public const int MaxNodes = 100_000;

    private const string TopWhere = "the top-level mapping";
    private static readonly string[] s_topKeys = ["image", "tags", "manifests", "annotations", "format"];
    private static readonly string[] s_entryKeys = ["image", "platform", "annotations"];
    private static readonly string[] s_platformKeys =
        ["architecture", "os", "variant", "osversion", "os.version", "osfeatures", "os.features", "features"];

    /// <summary>Extension spellings and the manifest-tool key each stands for.</summary>
    private static readonly Dictionary<string, string> s_aliases = new(StringComparer.Ordinal)
    {
        ["os.version"] = "osversion",
        ["os.features"] = "osfeatures",
    };

    /// <summary>Reads the spec file at <paramref name="path"/>; messages name the file as given.</summary>
    public static ManifestSpec ReadFile(string path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            throw SpecErrors.NotFound(path ?? string.Empty);
        }

        byte[] bytes;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.CanSeek && stream.Length > MaxFileBytes)
            {
                throw SpecErrors.TooLarge(path, SizeDetail(stream.Length));
            }

            bytes = ReadAtMost(stream, MaxFileBytes + 1);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw SpecErrors.NotFound(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw SpecErrors.Unreadable(path, ex);
        }

        if (bytes.Length > MaxFileBytes)
        {
            throw SpecErrors.TooLarge(path, SizeDetail(bytes.Length));
        }

        return ReadText(Decode(bytes, path), path);
    }

    /// <summary>Reads a spec from text; <paramref name="fileNameForMessages"/> is the file name its messages cite.</summary>
    public static ManifestSpec ReadText(string text, string fileNameForMessages)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileNameForMessages);
        var file = fileNameForMessages;
        if (text.StartsWith('\uFEFF'))
        {
            text = text[1..];
        }

        if (text.Length > MaxFileBytes || Encoding.UTF8.GetByteCount(text) > MaxFileBytes)
        {
            throw SpecErrors.TooLarge(file, SizeDetail(Encoding.UTF8.GetByteCount(text)));
        }

        CheckCharacters(text, file);
        var root = SpecYamlLoader.Load(text, file, MaxDepth, MaxNodes);
        return BindSpec(root, file);
    }

    private static ManifestSpec BindSpec(SpecNode? root, string file)
    {
        const string ImageWhat = "'image' (the image reference the index is pushed to)";
        if (root is null)
        {
            throw SpecErrors.MissingKey(new SpecLocation(file, 1, 1), ImageWhat);
        }

        if (root is not SpecMapping mapping)
        {
            throw SpecErrors.WrongType("document", "a mapping with the keys image, manifests and optionally tags, annotations and format", root);
        }

        var fields = ReadFields(mapping, TopWhere, string.Empty, s_topKeys);

        if (!fields.TryGetValue("image", out var imageField))
        {
            throw SpecErrors.MissingKey(mapping.Location, ImageWhat);
        }

        var image = ReadRequiredString(imageField.Value, "image", ImageWhat);
        CheckReference(image, "image", imageField.Value.Location);

        var tags = ImmutableArray<string>.Empty;
        var tagLocations = ImmutableArray<SpecLocation>.Empty;
        if (fields.TryGetValue("tags", out var tagsField))
        {
            var list = ReadStringList(tagsField.Value, "tags", "a sequence of tags, for example [\"1.0\", \"latest\"]");
            for (var i = 0; i < list.Count; i++)
            {
                if (!ImageReference.IsValidTag(list[i].Value))
                {
                    throw SpecErrors.Invalid(list[i].Location, $"tags[{i}]: " + Messages.Text(MessageId.InvalidTag, SpecErrors.Display(list[i].Value)));
                }
            }

            tags = [.. list.Select(t => t.Value)];
            tagLocations = [.. list.Select(t => t.Location)];
        }

        if (!fields.TryGetValue("manifests", out var manifestsField))
        {
            throw SpecErrors.MissingKey(mapping.Location, "'manifests' (the list of source images)");
        }

        var manifests = BindManifests(manifestsField.Value);

        var annotations = fields.TryGetValue("annotations", out var annotationsField)
            ? ReadAnnotations(annotationsField.Value, "annotations")
            : ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

        string? format = null;
        if (fields.TryGetValue("format", out var formatField))
        {
            format = ReadString(formatField.Value, "format");
            if (format is not null and not ManifestSpec.FormatOci and not ManifestSpec.FormatDocker)
            {
                throw SpecErrors.Invalid(formatField.Value.Location,
                    $"'format' is '{SpecErrors.Display(format)}', which is not known; use oci (an OCI image index) or docker (a Docker manifest list), or leave it out to let the build decide");
            }
        }

        return new ManifestSpec(image, tags, tagLocations, manifests, annotations, format, imageField.Value.Location);
    }

    private static ImmutableArray<ManifestSpecEntry> BindManifests(SpecNode node)
    {
        const string What = "at least one entry in 'manifests'";
        if (node is SpecScalar { IsNull: true })
        {
            throw SpecErrors.MissingKey(node.Location, What);
        }

        if (node is not SpecSequence sequence)
        {
            throw SpecErrors.WrongType("manifests", "a sequence of entries such as '- image: registry/app:amd64'", node);
        }

        if (sequence.Items.Count == 0)
        {
            throw SpecErrors.MissingKey(node.Location, What);
        }

        var entries = ImmutableArray.CreateBuilder<ManifestSpecEntry>(sequence.Items.Count);
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            entries.Add(BindEntry(sequence.Items[i], string.Create(CultureInfo.InvariantCulture, $"manifests[{i}]")));
        }

        return entries.MoveToImmutable();
    }

    private static ManifestSpecEntry BindEntry(SpecNode node, string path)
    {
        if (node is not SpecMapping mapping)
        {
            throw SpecErrors.WrongType(path, "a mapping with 'image' and optionally 'platform' and 'annotations'", node);
        }

        var fields = ReadFields(mapping, path, path, s_entryKeys);
        var imageWhat = $"'{path}.image' (the source image reference)";
        if (!fields.TryGetValue("image", out var imageField))
        {
            throw SpecErrors.MissingKey(mapping.Location, imageWhat);
        }

        var image = ReadRequiredString(imageField.Value, path + ".image", imageWhat);
        CheckReference(image, path + ".image", imageField.Value.Location);

        var platform = fields.TryGetValue("platform", out var platformField) ? BindPlatform(platformField.Value, path + ".platform") : null;
        var annotations = fields.TryGetValue("annotations", out var annotationsField)
            ? ReadAnnotations(annotationsField.Value, path + ".annotations")
            : ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

        return new ManifestSpecEntry(image, platform, annotations, imageField.Value.Location);
    }

    private static PlatformSpec? BindPlatform(SpecNode node, string path)
    {
        if (node is SpecScalar { IsNull: true })
        {
            return null;
        }

        if (node is not SpecMapping mapping)
        {
            throw SpecErrors.WrongType(path, "a mapping such as {os: linux, architecture: arm64}", node);
        }

        var fields = ReadFields(mapping, path, path, s_platformKeys);
        var os = ReadComponent(fields, "os", path);
        var architecture = ReadComponent(fields, "architecture", path);
        var variant = ReadComponent(fields, "variant", path);
        var osVersion = fields.TryGetValue("osversion", out var versionField) ? ReadString(versionField.Value, $"{path}.{versionField.Key}") : null;
        var osFeatures = ReadFeatures(fields, "osfeatures", path);
        var features = ReadFeatures(fields, "features", path);

        if ((os is null) != (architecture is null))
        {
            var (given, missing) = os is null ? ("architecture", "os") : ("os", "architecture");
            throw SpecErrors.Invalid(mapping.Location,
                $"{path} gives '{given}' but not '{missing}'; give both, or neither to take them from the image's config");
        }

        if (os is null && variant is null && string.IsNullOrEmpty(osVersion) && osFeatures.IsEmpty && features.IsEmpty)
        {
            return null;
        }

        return new PlatformSpec(os, architecture, variant, string.IsNullOrEmpty(osVersion) ? null : osVersion, osFeatures, features, mapping.Location);
    }

    /// <summary>os, architecture or variant: lower-case letters, digits, '.', '_', '-'; empty means not given.</summary>
    private static string? ReadComponent(Dictionary<string, Field> fields, string key, string path)
    {
        if (!fields.TryGetValue(key, out var field))
        {
            return null;
        }

        var value = ReadString(field.Value, $"{path}.{key}");
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (!value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-'))
        {
            throw SpecErrors.Invalid(field.Value.Location,
                $"{path}.{key}: '{SpecErrors.Display(value)}' is not a valid {key}; use lower-case letters, digits, '.', '_' or '-' (for example {Example(key)})");
        }

        return value;

        static string Example(string key) => key switch
        {
            "os" => "linux or windows",
            "architecture" => "amd64 or arm64",
            _ => "v7 or v8",
        };
    }

    private static ImmutableArray<string> ReadFeatures(Dictionary<string, Field> fields, string key, string path)
    {
        if (!fields.TryGetValue(key, out var field))
        {
            return [];
        }

        var what = $"{path}.{field.Key}";
        var list = ReadStringList(field.Value, what, "a sequence of strings, for example [win32k]");
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Value.Length == 0)
            {
                throw SpecErrors.Invalid(list[i].Location, string.Create(CultureInfo.InvariantCulture, $"{what}[{i}] is empty; remove it or give a feature name"));
            }
        }

        return [.. list.Select(f => f.Value)];
    }

    private static void CheckReference(string value, string path, SpecLocation location)
    {
        if (!ImageReference.TryParse(value, out _, out var reason))
        {
            throw SpecErrors.Invalid(location, $"{path}: " + Messages.Text(MessageId.InvalidReference, SpecErrors.Display(value), reason));
        }
    }

    /// <summary>
    /// The keys of a mapping by their manifest-tool name, after checking that each key is a known string given once
    /// (an extension spelling such as <c>os.version</c> and its manifest-tool twin count as the same key).
    /// </summary>
    private static Dictionary<string, Field> ReadFields(SpecMapping mapping, string where, string path, string[] known)
    {
        var fields = new Dictionary<string, Field>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Entries)
        {
            if (keyNode is not SpecScalar keyScalar)
            {
                throw SpecErrors.WrongType(path.Length == 0 ? "key" : path + " key", "a string", keyNode);
            }

            var key = keyScalar.Value;
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                throw SpecErrors.UnknownKey(keyNode.Location, key, where, KnownKeysText(known, key));
            }

            var name = s_aliases.GetValueOrDefault(key, key);
            if (fields.TryGetValue(name, out var first))
            {
                var firstAt = string.Create(CultureInfo.InvariantCulture, $"line {first.KeyLocation.Line}, column {first.KeyLocation.Column}");
                throw SpecErrors.Invalid(keyNode.Location, first.Key == key
                    ? $"the key '{SpecErrors.Display(key)}' appears twice in {where} (first at {firstAt}); give each key once"
                    : $"'{SpecErrors.Display(key)}' and '{first.Key}' (at {firstAt}) are two spellings of the same key in {where}; give only one of them");
            }

            fields.Add(name, new Field(key, keyNode.Location, value));
        }

        return fields;
    }

    private static string KnownKeysText(string[] known, string key)
    {
        var text = string.Join(", ", known);
        var near = known.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
        return near is null ? text : $"{text} (keys are case-sensitive: did you mean '{near}'?)";
    }

    private static string? ReadString(SpecNode node, string what) => node switch
    {
        SpecScalar { IsNull: true } => null,
        SpecScalar scalar => scalar.Value,
        _ => throw SpecErrors.WrongType(what, "a string", node),
    };

    private static string ReadRequiredString(SpecNode node, string what, string description)
    {
        var value = ReadString(node, what);
        return string.IsNullOrEmpty(value) ? throw SpecErrors.MissingKey(node.Location, description) : value;
    }

    private static List<(string Value, SpecLocation Location)> ReadStringList(SpecNode node, string what, string expected)
    {
        if (node is SpecScalar { IsNull: true })
        {
            return [];
        }

        if (node is not SpecSequence sequence)
        {
            throw SpecErrors.WrongType(what, expected, node);
        }

        var list = new List<(string, SpecLocation)>(sequence.Items.Count);
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var item = sequence.Items[i];
            if (item is not SpecScalar { IsNull: false } scalar)
            {
                throw SpecErrors.WrongType(string.Create(CultureInfo.InvariantCulture, $"{what}[{i}]"), "a string", item);
            }

            list.Add((scalar.Value, scalar.Location));
        }

        return list;
    }

    private static ImmutableSortedDictionary<string, string> ReadAnnotations(SpecNode node, string what)
    {
        var annotations = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (node is SpecScalar { IsNull: true })
        {
            return annotations.ToImmutable();
        }

        if (node is not SpecMapping mapping)
        {
            throw SpecErrors.WrongType(what, "a mapping of annotation keys to string values", node);
        }

        var firstSeen = new Dictionary<string, SpecLocation>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Entries)
        {
            if (keyNode is not SpecScalar { IsNull: false } keyScalar || keyScalar.Value.Length == 0)
            {
                throw keyNode is SpecScalar
                    ? SpecErrors.Invalid(keyNode.Location, $"{what} has an empty key; give each annotation a name such as org.opencontainers.image.title")
                    : SpecErrors.WrongType(what + " key", "a string", keyNode);
            }

            var key = keyScalar.Value;
            var valueWhat = $"{what}[\"{SpecErrors.Display(key)}\"]";
            if (firstSeen.TryGetValue(key, out var first))
            {
                throw SpecErrors.Invalid(keyNode.Location, string.Create(CultureInfo.InvariantCulture,
                    $"the annotation '{SpecErrors.Display(key)}' appears twice in {what} (first at line {first.Line}, column {first.Column}); give each annotation once"));
            }

            firstSeen.Add(key, keyNode.Location);
            if (value is not SpecScalar { IsNull: false } valueScalar)
            {
                throw SpecErrors.WrongType(valueWhat, "a string (write \"\" for an empty value)", value);
            }

            annotations.Add(key, valueScalar.Value);
        }

        return annotations.ToImmutable();
    }

    /// <summary>
    /// Rejects characters YAML does not allow in a stream (C0 controls other than tab and line breaks, DEL, C1
    /// controls other than NEL, lone surrogates, U+FFFE, U+FFFF). YamlDotNet lets some through into values.
    /// </summary>
    private static void CheckCharacters(string text, string file)
    {
        var line = 1;
        var column = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var allowed = c switch
            {
                '\t' or '\n' or '\r' or '\u0085' => true,
                < '\u0020' or '\u007F' or (>= '\u0080' and <= '\u009F') or '\uFFFE' or '\uFFFF' => false,
                _ when char.IsHighSurrogate(c) => i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]),
                _ when char.IsLowSurrogate(c) => i > 0 && char.IsHighSurrogate(text[i - 1]),
                _ => true,
            };
            if (!allowed)
            {
                var code = ((int)c).ToString("X4", CultureInfo.InvariantCulture);
                throw SpecErrors.Syntax(new SpecLocation(file, line, column),
                    $"the character U+{code} is not allowed in YAML; remove it, or write it as the escape \"\\u{code}\" inside a double-quoted string");
            }

            if (c == '\n' || (c == '\r' && (i + 1 == text.Length || text[i + 1] != '\n')))
            {
                line++;
                column = 1;
            }
            else if (c != '\r')
            {
                column++;
            }
        }
    }

    /// <summary>Decodes a spec file: UTF-8 (with or without BOM) or, with a BOM, UTF-16 (as Windows PowerShell writes).</summary>
    private static string Decode(byte[] bytes, string file)
    {
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE)
        {
            return Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2);
        }

        if (bytes.Length >= 2 && bytes[0] == 0xFE && bytes[1] == 0xFF)
        {
            return Encoding.BigEndianUnicode.GetString(bytes, 2, bytes.Length - 2);
        }

        var start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        var source = bytes.AsSpan(start);
        var chars = new char[source.Length];
        var status = Utf8.ToUtf16(source, chars, out var read, out var written, replaceInvalidSequences: false);
        if (status == System.Buffers.OperationStatus.Done)
        {
            return new string(chars, 0, written);
        }

        // Cite the first bad byte: count lines and columns in the text before it.
        var before = chars.AsSpan(0, written);
        var line = 1;
        var lastBreak = before.LastIndexOf('\n');
        foreach (var c in before)
        {
            line += c == '\n' ? 1 : 0;
        }

        var column = written - lastBreak;
        throw SpecErrors.Syntax(new SpecLocation(file, line, column),
            $"the file is not valid UTF-8 (byte 0x{source[read]:X2} at offset {start + read}); save it as UTF-8");
    }

    private static byte[] ReadAtMost(Stream stream, int limit)
    {
        var buffer = new byte[Math.Min(limit, stream.CanSeek ? (int)Math.Min(stream.Length + 1, limit) : 81920)];
        var total = 0;
        while (total < limit)
        {
            if (total == buffer.Length)
            {
                Array.Resize(ref buffer, Math.Min(limit, buffer.Length * 2));
            }

            var n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        Array.Resize(ref buffer, total);
        return buffer;
    }

    private static string SizeDetail(long bytes) => bytes > MaxFileBytes + 1L
        ? string.Create(CultureInfo.InvariantCulture, $"it is {bytes} bytes, and a spec may be at most {MaxFileBytes} bytes (1 MiB)")
        : string.Create(CultureInfo.InvariantCulture, $"it is larger than {MaxFileBytes} bytes (1 MiB), the most a spec may be");

    private sealed record Field(string Key, SpecLocation KeyLocation, SpecNode Value);
}
