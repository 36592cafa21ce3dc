using System.Collections.Concurrent;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// What the client learned about registries during a build, shared by every task of it: each registry's challenge (so
/// later requests authenticate up front, without a 401 round trip), bearer tokens per scope set and their refusals, the
/// scheme that worked, which hosts answered, and which one-time notes were printed.
/// </summary>
internal sealed class RegistryBuildState
{
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedToken>>> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _schemes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, int> _rejections = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _notices = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _answered = new(StringComparer.OrdinalIgnoreCase);

    public AuthChallenge? GetChallenge(string registry) => _challenges.TryGetValue(registry, out var challenge) ? challenge : null;

    public void SetChallenge(string registry, AuthChallenge challenge) => _challenges[registry] = challenge;

    public string? GetScheme(string registry) => _schemes.TryGetValue(registry, out var scheme) ? scheme : null;

    public void SetScheme(string registry, string scheme) => _schemes[registry] = scheme;

    /// <summary>The token for a scope set: a live cached one, or one fetched once however many requests ask at the same time.</summary>
    public async Task<CachedToken> GetTokenAsync(string key, Func<Task<CachedToken>> fetch)
    {
        while (true)
        {
            var lazy = _tokens.GetOrAdd(key, _ => new Lazy<Task<CachedToken>>(fetch));
            CachedToken token;
            try
            {
                token = await lazy.Value;
            }
            catch
            {
                _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<CachedToken>>>(key, lazy));
                throw;
            }

            if (token.ExpiresAt > DateTimeOffset.UtcNow)
            {
                return token;
            }

            _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<CachedToken>>>(key, lazy));
        }
    }

    /// <summary>
    /// The registry refused <paramref name="value"/>, a token for <paramref name="key"/>: forget it, unless another request
    /// already replaced it, and count one rejection. Many requests that fail with the same token count once.
    /// </summary>
    public bool RejectToken(string key, string value)
    {
        if (_tokens.TryGetValue(key, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully &&
            lazy.Value.Result.Value == value && _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<CachedToken>>>(key, lazy)))
        {
            RecordRejection(key);
            return true;
        }

        return false;
    }

    /// <summary>Counts one refusal for a scope set: the token service refused the credentials, or the registry refused its token.</summary>
    public void RecordRejection(string key) => _rejections.AddOrUpdate(key, 1, (_, n) => n + 1);

    /// <summary>
    /// The registry took a token for <paramref name="key"/>: earlier refusals (a token that expired and was refreshed) no
    /// longer count, so a long build survives any number of expiries, one refresh each.
    /// </summary>
    public void ClearRejections(string key)
    {
        if (_rejections.ContainsKey(key))
        {
            _rejections.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// How often this scope set was refused since the registry last took a token for it. The client stops asking after two
    /// refusals in a row, so bad credentials never hammer a token service (and lock the account); granted tokens, however
    /// many requests share them, never count.
    /// </summary>
    public int RejectionCount(string key) => _rejections.TryGetValue(key, out var n) ? n : 0;

    /// <summary>Records that something answered at <paramref name="authority"/> (host:port) during this build.</summary>
    public void MarkAnswered(string authority)
    {
        if (!_answered.ContainsKey(authority))
        {
            _answered.TryAdd(authority, 0);
        }
    }

    /// <summary>
    /// Whether something answered at <paramref name="authority"/> before: a refused connection there is then a blip to
    /// retry; before any answer, it means nothing listens (the registry is not running, or the port is wrong).
    /// </summary>
    public bool HasAnswered(string authority) => _answered.ContainsKey(authority);

    /// <summary>True only the first time <paramref name="notice"/> is asked about: for notes printed once per build, not once per task.</summary>
    public bool FirstTime(string notice) => _notices.TryAdd(notice, 0);
}

/// <summary>A bearer token and when to stop using it (refreshed a little early).</summary>
internal sealed record CachedToken(string Value, DateTimeOffset ExpiresAt)
{
    public override string ToString() => $"token until {ExpiresAt:O}";
}
