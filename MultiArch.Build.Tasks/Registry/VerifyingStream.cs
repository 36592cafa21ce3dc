using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>Passes a blob through while hashing it, so a copy can prove it moved exactly the bytes it meant to.</summary>
internal sealed class VerifyingStream : Stream
{
    private readonly Stream _inner;
    private readonly Digest _expected;
    private readonly long _expectedSize;
    private readonly System.Security.Cryptography.IncrementalHash _hash;
    private long _read;
    private string? _finalHex;

    public VerifyingStream(Stream inner, Digest expected, long expectedSize)
    {
        _inner = inner;
        _expected = expected;
        _expectedSize = expectedSize;
        _hash = System.Security.Cryptography.IncrementalHash.CreateHash(expected.Algorithm == "sha512"
            ? System.Security.Cryptography.HashAlgorithmName.SHA512
            : System.Security.Cryptography.HashAlgorithmName.SHA256);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _expectedSize;

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = _inner.Read(buffer);
        Account(buffer[..read]);
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _inner.ReadAsync(buffer, cancellationToken);
        Account(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Account(ReadOnlySpan<byte> data)
    {
        _read += data.Length;
        if (_read > _expectedSize)
        {
            throw new InvalidDataException($"the blob is larger than its descriptor's {_expectedSize} bytes");
        }

        _hash.AppendData(data);
    }

    /// <summary>True once every byte the descriptor announced has passed through.</summary>
    public bool IsComplete => _read == _expectedSize;

    /// <summary>
    /// Throws <c>MULTIARCH2005</c> unless exactly the expected bytes passed through. Callable after disposal: the HTTP
    /// stack disposes a request's content (and so this stream) as soon as the request is sent.
    /// </summary>
    public void ThrowIfMismatch(string what)
    {
        var actual = ActualHex();
        if (_read != _expectedSize || actual != _expected.Hex)
        {
            throw MultiArchException.Create(MessageId.DigestMismatch, what, $"{_expected.Algorithm}:{actual}", _expected);
        }
    }

    private string ActualHex() => _finalHex ?? Convert.ToHexString(_hash.GetCurrentHash()).ToLowerInvariant();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _finalHex is null)
        {
            _finalHex = Convert.ToHexString(_hash.GetCurrentHash()).ToLowerInvariant();
            _hash.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
