using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>A place that was searched: a name (<c>binlog file</c>, <c>binlog records</c>, <c>binlog import: path</c>, <c>console</c>) and its bytes.</summary>
internal sealed record ScannedPart(string Name, byte[] Bytes);

/// <summary>One way a secret can be written down, as bytes to search for.</summary>
internal sealed record SecretForm(string Name, byte[] Bytes);

/// <summary>Looks for a password in every form a log could hold it, in every layer of a binary log.</summary>
internal static class SecretScan
{
    /// <summary>The name of the form that is the password itself, as UTF-8.</summary>
    public const string PlainForm = "the password";

    private static readonly byte[] s_endOfCentralDirectory = "PK\u0005\u0006"u8.ToArray();

    /// <summary>
    /// The password as UTF-8 and UTF-16, URL-encoded (as in a query or a form), JSON-escaped (System.Text.Json's default
    /// escapes <c>+</c>, <c>&amp;</c> …), base64 of the password and of <c>user:password</c> (a Basic header, a docker
    /// config <c>auth</c>), and the password's base64 at each of the three byte alignments with the characters that depend
    /// on neighbouring bytes cut off, which finds it inside any base64 text that encodes it. Forms equal to the plain
    /// password are left out (a canary with <c>+ / = &amp; %</c> makes them all differ).
    /// </summary>
    public static IReadOnlyList<SecretForm> FormsOf(string password, string user)
    {
        var bytes = Encoding.UTF8.GetBytes(password);
        List<SecretForm> forms =
        [
            new(PlainForm, bytes),
            new("the password as UTF-16", Encoding.Unicode.GetBytes(password)),
            new("base64(password)", Encoding.ASCII.GetBytes(Convert.ToBase64String(bytes))),
            new("base64(user:password)", Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)))),
        ];
        foreach (var (name, text) in new[]
        {
            ("the password URL-encoded", Uri.EscapeDataString(password)),
            ("the password form-encoded", System.Net.WebUtility.UrlEncode(password)),
            ("the password JSON-escaped", System.Text.Json.JsonSerializer.Serialize(password)[1..^1]),
        })
        {
            if (text != password && forms.All(f => !f.Bytes.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(text))))
            {
                forms.Add(new SecretForm(name, Encoding.UTF8.GetBytes(text)));
            }
        }

        for (var offset = 0; offset < 3; offset++)
        {
            var padded = new byte[offset + bytes.Length + 2];
            bytes.CopyTo(padded, offset);
            var text = Convert.ToBase64String(padded);
            var first = ((8 * offset) + 5) / 6; // the first character whose 6 bits all come from the password
            var end = 8 * (offset + bytes.Length) / 6; // one past the last such character
            forms.Add(new SecretForm($"the password inside base64 (alignment {offset})", Encoding.ASCII.GetBytes(text[first..end])));
        }

        return forms;
    }

    /// <summary>
    /// The binary log's layers: the file as written, the gzip-decompressed record stream, and each file of the
    /// project-imports zip embedded in the records (found by its end-of-central-directory record), decompressed.
    /// </summary>
    public static IReadOnlyList<ScannedPart> BinaryLogParts(string binlogPath)
    {
        var file = File.ReadAllBytes(binlogPath);
        using var records = new MemoryStream();
        using (var gzip = new GZipStream(new MemoryStream(file), CompressionMode.Decompress))
        {
            gzip.CopyTo(records);
        }

        var decompressed = records.ToArray();
        List<ScannedPart> parts = [new("binlog file", file), new("binlog records", decompressed)];
        foreach (var archive in EmbeddedZips(decompressed))
        {
            using (archive)
            {
                foreach (var entry in archive.Entries)
                {
                    using var content = entry.Open();
                    using var buffer = new MemoryStream();
                    content.CopyTo(buffer);
                    parts.Add(new ScannedPart("binlog import: " + entry.FullName, buffer.ToArray()));
                }
            }
        }

        return parts;
    }

    /// <summary>Each of <paramref name="secrets"/> (issued tokens …) as one form, named <paramref name="what"/> and its index.</summary>
    public static IEnumerable<SecretForm> Plain(string what, IEnumerable<string> secrets) =>
        secrets.Select((secret, i) => new SecretForm($"{what} #{i + 1}", Encoding.UTF8.GetBytes(secret)));

    /// <summary>
    /// The offsets of <paramref name="secret"/> in <paramref name="bytes"/> that are not MSBuild's own record of the
    /// environment variable <paramref name="variable"/>: the name, then (within a few bytes: a length prefix in a binary
    /// log, <c> = </c> on a console) the value.
    /// </summary>
    public static IReadOnlyList<int> NotAfterVariable(byte[] bytes, string secret, string variable)
    {
        var name = Encoding.UTF8.GetBytes(variable);
        return [.. Occurrences(bytes, Encoding.UTF8.GetBytes(secret)).Where(offset =>
        {
            var from = Math.Max(0, offset - name.Length - 8);
            return bytes.AsSpan(from, offset - from).IndexOf(name) < 0;
        })];
    }

    /// <summary>Asserts that no form of the password or user name occurs anywhere in a binary log (its bytes, stream and embedded files).</summary>
    public static void AssertNotInBinaryLog(string binlogPath, string password, string user)
    {
        var found = Find([.. BinaryLogParts(binlogPath)], FormsOf(password, user));
        Assert.IsEmpty(found, "a credential reached the binary log: " + string.Join(", ", found));
    }

    /// <summary>Every (form, part, offset) where a form occurs, as readable lines; empty when none does.</summary>
    public static IReadOnlyList<string> Find(IEnumerable<ScannedPart> parts, IReadOnlyList<SecretForm> forms) =>
        [.. from part in parts
            from form in forms
            from offset in Occurrences(part.Bytes, form.Bytes)
            select $"{form.Name} in {part.Name} at byte {offset}"];

    /// <summary>The offsets where <paramref name="pattern"/> starts in <paramref name="bytes"/>.</summary>
    public static IEnumerable<int> Occurrences(byte[] bytes, byte[] pattern)
    {
        for (var start = 0; start <= bytes.Length - pattern.Length;)
        {
            var found = bytes.AsSpan(start).IndexOf(pattern);
            if (found < 0)
            {
                yield break;
            }

            yield return start + found;
            start += found + 1;
        }
    }

    /// <summary>
    /// Zip archives inside <paramref name="bytes"/>: for each end-of-central-directory record, the archive starts at
    /// (record offset − central directory size − central directory offset), and runs to the end of the record's comment.
    /// </summary>
    private static IEnumerable<ZipArchive> EmbeddedZips(byte[] bytes)
    {
        foreach (var eocd in Occurrences(bytes, s_endOfCentralDirectory))
        {
            if (eocd + 22 > bytes.Length)
            {
                continue;
            }

            var record = bytes.AsSpan(eocd);
            var directorySize = BinaryPrimitives.ReadUInt32LittleEndian(record[12..]);
            var directoryOffset = BinaryPrimitives.ReadUInt32LittleEndian(record[16..]);
            var commentLength = BinaryPrimitives.ReadUInt16LittleEndian(record[20..]);
            var start = (long)eocd - directorySize - directoryOffset;
            var end = eocd + 22L + commentLength;
            if (start < 0 || end > bytes.Length)
            {
                continue;
            }

            ZipArchive archive;
            try
            {
                archive = new ZipArchive(new MemoryStream(bytes, (int)start, (int)(end - start), writable: false), ZipArchiveMode.Read);
            }
            catch (InvalidDataException)
            {
                continue; // the signature bytes occurred by chance
            }

            yield return archive;
        }
    }
}
