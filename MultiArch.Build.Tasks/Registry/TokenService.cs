using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Credentials and tokens: the Authorization a registry's challenge calls for (Basic, or a Bearer token per scope set,
/// fetched once and shared), tokens of another origin's own (a mirror reached by a redirect, asked anonymously), and
/// which token services may receive the credentials (<see cref="RealmPolicy"/>).
/// </summary>
internal sealed class TokenService(RegistrySettings settings, RegistryWire wire)
{
    private static readonly HashSet<string> s_wellKnownRealms = new(StringComparer.OrdinalIgnoreCase)
    {
        "registry-1.docker.io|auth.docker.io",
    };

    private readonly RegistrySettings _settings = settings;
    private readonly RegistryWire _wire = wire;

    public static string TokenKey(string registry, IEnumerable<string> scopes) => registry + "|" + string.Join(' ', scopes);

    /// <summary>The key under which another origin's own challenge is kept (never a registry name: it has a scheme).</summary>
    public static string OriginKey(Uri uri) => "origin:" + uri.GetLeftPart(UriPartial.Authority);

    public static RegistryAccess AccessOf(IEnumerable<string> scopes) =>
        scopes.Any(s => s.EndsWith(",push", StringComparison.Ordinal) || s.EndsWith(":push", StringComparison.Ordinal)) ? RegistryAccess.Push : RegistryAccess.Pull;

    public async Task<bool> HasCredentialAsync(string registry, IEnumerable<string> scopes, CancellationToken cancellationToken) =>
        await _settings.Credentials.GetCredentialAsync(registry, AccessOf(scopes), cancellationToken) is { HasBasic: true };

    /// <summary>What the registry's known challenge calls for: Basic credentials, a Bearer token for the scopes, or nothing.</summary>
    public async Task<AuthenticationHeaderValue?> GetAuthorizationAsync(string registry, SortedSet<string> scopes, CancellationToken cancellationToken)
    {
        var challenge = _settings.State.GetChallenge(registry);
        if (challenge is null)
        {
            return null;
        }

        var credential = await _settings.Credentials.GetCredentialAsync(registry, AccessOf(scopes), cancellationToken);
        if (challenge.IsBasic)
        {
            return credential is { HasBasic: true } ? new AuthenticationHeaderValue("Basic", credential.ToBasicHeaderValue()) : null;
        }

        var key = TokenKey(registry, scopes);
        var token = await _settings.State.GetTokenAsync(key, () => FetchTokenAsync(registry, challenge, scopes.ToArray(), credential, key, cancellationToken));
        return new AuthenticationHeaderValue("Bearer", token.Value);
    }

    /// <summary>An anonymous token from the token service another origin (a mirror) named in its own challenge.</summary>
    public async Task<AuthenticationHeaderValue?> GetOriginTokenAsync(Uri uri, SortedSet<string> scopes, CancellationToken cancellationToken)
    {
        var origin = OriginKey(uri);
        if (_settings.State.GetChallenge(origin) is not { IsBearer: true } challenge)
        {
            return null;
        }

        var key = TokenKey(origin, scopes);
        var token = await _settings.State.GetTokenAsync(key, () => FetchTokenAsync(uri.Authority, challenge, scopes.ToArray(), credential: null, key, cancellationToken));
        return new AuthenticationHeaderValue("Bearer", token.Value);
    }

    public async Task<CachedToken> FetchTokenAsync(string registry, AuthChallenge challenge, string[] scopes, RegistryCredential? credential, string key, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(realm.UserInfo))
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, challenge.Realm ?? "(none)", registry, "the registry's challenge names no valid http(s) realm");
        }

        if (realm.Scheme == Uri.UriSchemeHttp && !_settings.IsInsecure(registry) && !_settings.IsInsecureHost(realm.Host))
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "the token service is plain HTTP and the registry is not listed as insecure");
        }

        if (_settings.State.RejectionCount(key) >= 2)
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "it was asked twice already for this access and did not grant it; stopping so the account is not locked");
        }

        var refusal = credential is null ? null : await RealmRefusalAsync(registry, realm, cancellationToken);
        var realmAllowed = refusal is null;
        if (!realmAllowed)
        {
            _settings.Log.Message(LogLevel.Low, $"MultiArch: the token service {RegistryException.Redact(realm)} {refusal}; asking it for an anonymous token, without credentials.");
        }

        var sendCredential = realmAllowed ? credential : null;
        var query = new List<string>();
        if (challenge.Service is { } service)
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        query.AddRange(scopes.Select(s => "scope=" + Uri.EscapeDataString(s)));
        HttpRequestMessage CreateMessage()
        {
            if (sendCredential is { IdentityToken: { Length: > 0 } refreshToken })
            {
                var form = new List<KeyValuePair<string, string>>
                {
                    new("grant_type", "refresh_token"),
                    new("refresh_token", refreshToken),
                    new("client_id", "multiarch-build-tasks"),
                    new("scope", string.Join(' ', scopes)),
                };
                if (challenge.Service is { } formService)
                {
                    form.Add(new("service", formService));
                }

                return new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
            }

            var builder = new UriBuilder(realm);
            var existing = builder.Query.TrimStart('?');
            builder.Query = string.Join('&', new[] { existing }.Where(q => q.Length > 0).Concat(query));
            var get = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
            if (sendCredential is { HasBasic: true })
            {
                get.Headers.Authorization = new AuthenticationHeaderValue("Basic", sendCredential.ToBasicHeaderValue());
            }

            return get;
        }

        // A token request has no side effect: resets, timeouts, 408, 429 and 5xx are tried again like any read.
        for (var attempt = 0; ; attempt++)
        {
            using var message = CreateMessage();
            HttpResponseMessage response;
            try
            {
                response = await _wire.SendMessageAsync(message, cancellationToken);
            }
            catch (Exception ex) when (RegistryFailures.IsTransport(ex) && !cancellationToken.IsCancellationRequested)
            {
                if (attempt < _settings.MaxRetries && RegistryFailures.IsTransient(ex))
                {
                    await RetryPolicy.DelayAsync(_settings, registry, HttpMethod.Get, realm.AbsolutePath, attempt + 1, null, ex.Message, cancellationToken);
                    continue;
                }

                throw MultiArchException.Create(ex, MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, ex.Message);
            }

            using (response)
            {
                _settings.Log.Message(LogLevel.Low, $"MultiArch: token {RegistryException.Redact(realm)} [{string.Join(' ', scopes)}] -> {(int)response.StatusCode}");
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                {
                    _settings.State.RecordRejection(key);
                    if (!realmAllowed && credential is not null)
                    {
                        throw MultiArchException.Create(MessageId.RealmNotAllowed, registry, RegistryException.Redact(realm), refusal);
                    }

                    throw sendCredential is null
                        ? MultiArchException.Create(MessageId.AuthenticationRequired, registry)
                        : MultiArchException.Create(MessageId.AuthenticationFailed, registry, sendCredential.Source);
                }

                if (RegistryFailures.IsTransient(response.StatusCode) && attempt < _settings.MaxRetries)
                {
                    await RetryPolicy.DelayAsync(_settings, registry, HttpMethod.Get, realm.AbsolutePath, attempt + 1, RetryPolicy.RetryAfter(response), $"HTTP {(int)response.StatusCode}", cancellationToken);
                    continue;
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var after = attempt > 0 ? $" after {attempt + 1} attempts" : string.Empty;
                    throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, $"HTTP {(int)response.StatusCode}{after}");
                }

                var body = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxErrorBytes, () => MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "the token response is larger than 64 KiB"), cancellationToken);
                return ParseToken(body, realm, registry);
            }
        }
    }

    private static CachedToken ParseToken(byte[] body, Uri realm, string registry)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var token = OciJson.GetString(root, "token") ?? OciJson.GetString(root, "access_token");
            if (string.IsNullOrEmpty(token))
            {
                throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "the response holds no token");
            }

            var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
            var issued = OciJson.GetString(root, "issued_at") is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : DateTimeOffset.UtcNow;
            if (issued > DateTimeOffset.UtcNow)
            {
                issued = DateTimeOffset.UtcNow;
            }

            // Refresh early: a token that expires while a request is in flight costs a 401 round trip.
            var expires = issued.AddSeconds(Math.Max(lifetime, 60)).AddSeconds(-Math.Min(30, lifetime / 4));
            return new CachedToken(token, expires);
        }
        catch (JsonException)
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "the response is not JSON");
        }
    }

    /// <summary>
    /// Null when the token service <paramref name="realm"/> may receive <paramref name="registry"/>'s credentials; else
    /// why not (the end of a sentence about the token service). See <see cref="RealmPolicy"/>.
    /// </summary>
    public async Task<string?> RealmRefusalAsync(string registry, Uri realm, CancellationToken cancellationToken)
    {
        var registryHost = RegistrySettings.HostOf(RegistryRequest.ApiAuthority(registry));
        if (string.Equals(realm.Host, registryHost, StringComparison.OrdinalIgnoreCase)
            || _settings.TrustedRealmHosts.Contains(realm.Host) || _settings.TrustedRealmHosts.Contains(realm.Authority)
            || s_wellKnownRealms.Contains(registryHost + "|" + realm.Host))
        {
            return null;
        }

        if (_settings.RealmPolicy == RealmPolicy.Strict)
        {
            return "is not on the registry's host, and ContainerRegistryTrustedRealms (the strict rule) does not list it";
        }

        if (realm.Scheme != Uri.UriSchemeHttps || (_settings.State.GetScheme(registry) ?? Uri.UriSchemeHttps) != Uri.UriSchemeHttps)
        {
            return "is not on the registry's host, and only a registry reached over HTTPS may name a token service elsewhere, over HTTPS";
        }

        if (!await NetworkAddresses.IsPrivateAsync(registryHost, cancellationToken) && await NetworkAddresses.IsPrivateAsync(realm.Host, cancellationToken))
        {
            return "has a loopback or private network address, and the registry is not on one";
        }

        return null;
    }
}
