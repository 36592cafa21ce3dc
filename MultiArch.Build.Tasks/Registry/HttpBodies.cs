using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>Reading what a registry sent: bounded bodies (with an idle limit) and the digest header.</summary>
internal static class HttpBodies
{
    public const int MaxManifestBytes = 4 * 1024 * 1024;
    public const int MaxConfigBytes = 16 * 1024 * 1024;
    public const int MaxErrorBytes = 64 * 1024;

    public static Digest? HeaderDigest(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var digest) ? digest : null;

    /// <summary>
    /// Reads a response body of at most <paramref name="max"/> bytes; with <paramref name="idle"/>, a body that sends no
    /// byte for that long fails with a <see cref="TimeoutException"/> (however long the whole body takes).
    /// </summary>
    internal static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int max, Func<Exception> tooLarge, CancellationToken cancellationToken, TimeSpan? idle = null)
    {
        if (response.Content.Headers.ContentLength is { } length && length > max)
        {
            throw tooLarge();
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int read;
        while (true)
        {
            if (idle is { } limit)
            {
                stall.CancelAfter(limit);
            }

            try
            {
                read = await stream.ReadAsync(chunk, stall.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no bytes for {RegistryWire.Seconds(idle!.Value)}");
            }

            if (read == 0)
            {
                break;
            }

            if (buffer.Length + read > max)
            {
                throw tooLarge();
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
