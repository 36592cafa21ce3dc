using System.Text;

namespace MultiArch.Build.Tasks;

/// <summary>
/// Checks, before any work, that a file the task will write at the end (a digest file, an inspect output, a report)
/// can be written: not a folder, not under a regular file, a device that takes bytes. A probe file it creates is removed
/// again; an existing regular file is opened for writing but left unchanged. Then writes it, making its folder.
/// </summary>
internal static class OutputFiles
{
    /// <param name="path">The file as the user gave it; nothing is checked when empty.</param>
    /// <param name="property">The MSBuild property that names it, for the message.</param>
    public static void CheckWritable(string? path, string property)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return;
        }

        try
        {
            var full = Path.GetFullPath(path);
            if (Directory.Exists(full))
            {
                throw Fail(path, property, "it is a folder");
            }

            var directory = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            if (File.Exists(full))
            {
                // What a file (or a device: /dev/full, /dev/null) does with bytes is only known by giving it one: one
                // byte at the end, then the old length back, so an existing file keeps its content.
                using var existing = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                var length = existing.CanSeek ? existing.Length : 0;
                if (existing.CanSeek)
                {
                    existing.Seek(0, SeekOrigin.End);
                }

                existing.WriteByte((byte)'\n');
                existing.Flush();
                if (existing.CanSeek)
                {
                    try
                    {
                        existing.SetLength(length);
                    }
                    catch (IOException)
                    {
                        // a device that took the byte has no length to restore
                    }
                }

                return;
            }

            using (var probe = new FileStream(full, FileMode.CreateNew, FileAccess.Write))
            {
                probe.WriteByte(0);
                probe.Flush();
            }

            File.Delete(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw Fail(path, property, ex.Message);
        }
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/>, making its folder first.</summary>
    public static async Task WriteAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await File.WriteAllBytesAsync(path, content, cancellationToken);
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte order mark) to <paramref name="path"/>, making its folder first.</summary>
    public static Task WriteAsync(string path, string text, CancellationToken cancellationToken) =>
        WriteAsync(path, Encoding.UTF8.GetBytes(text), cancellationToken);

    private static MultiArchException Fail(string path, string property, string reason) =>
        MultiArchException.Create(MessageId.OutputFileNotWritable, property, path, reason.TrimEnd('.'));
}
