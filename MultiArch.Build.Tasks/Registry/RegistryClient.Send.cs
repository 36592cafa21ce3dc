using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>Sending: scheme selection, authentication, retries and error mapping.</summary>
internal sealed partial class RegistryClient
{
    private static readonly HashSet<string> s_wellKnownRealms = new(StringComparer.OrdinalIgnoreCase)
    {
        "registry-1.docker.io|auth.docker.io",
    };

    /// <summary>How many times a request was sent, kept on the last message, for the error that ends the retries.</summary>
    private static readonly HttpRequestOptionsKey<int> s_attempts = new("MultiArch.Attempts");

    /// <summary>The longest wait between two tries, in seconds, whatever the attempt number.</summary>
    private const double MaxBackoffSeconds = 30;

    /// <summary>
    /// Sends a request: authenticates from what is already known about the registry, answers one 401 challenge,
    /// and retries transient failures of idempotent requests with exponential backoff and jitter.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        var scopes = new SortedSet<string>(request.Scopes, StringComparer.Ordinal);
        var reauthenticated = false;
        var attempt = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var scheme = _settings.AuthCache.GetScheme(request.Registry) ?? "https";
            var uri = BuildUri(request, scheme);
            CheckPlainHttp(request, uri);
            using var message = new HttpRequestMessage(request.Method, uri);
            message.Options.Set(s_attempts, attempt + 1);
            foreach (var accept in request.Accept)
            {
                message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            }

            message.Content = request.Content?.Invoke();
            var authorization = await GetAuthorizationAsync(request.Registry, scopes, cancellationToken);
            if (authorization is not null && IsSameOrigin(uri, request.Registry, scheme))
            {
                message.Headers.Authorization = authorization;
            }

            HttpResponseMessage response;
            var stopwatch = Stopwatch.StartNew();
            try
            {
                response = await SendOnceAsync(message, cancellationToken);
            }
            catch (HttpRequestException ex) when (IsTlsFailure(ex) && scheme == "https" && _settings.IsInsecure(request.Registry))
            {
                // An insecure registry that does not speak TLS: remember plain HTTP for it and try again at once.
                _log.Message(LogLevel.Low, $"MultiArch: '{request.Registry}' did not complete a TLS handshake; it is listed as insecure, so using plain HTTP.");
                _settings.AuthCache.SetScheme(request.Registry, "http");
                continue;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                if (FindInner<SourceBodyException>(ex) is { } source)
                {
                    // The body streamed from another registry broke off: that registry failed, not this one.
                    throw source.Error;
                }

                if (IsConnectionRefused(ex) && !_settings.AuthCache.HasAnswered(uri.Authority))
                {
                    // Nothing ever answered there: no retry will change that (a registry that answered before and now
                    // refuses is restarting, and is retried).
                    throw MultiArchException.Create(ex, MessageId.NothingListening, uri.Authority, request.Registry);
                }

                if (request.IsRetryable && !IsTlsFailure(ex) && attempt < _settings.MaxRetries)
                {
                    attempt++;
                    await DelayAsync(request, attempt, null, ex.Message, cancellationToken);
                    continue;
                }

                throw TransportError(request, uri, ex, attempt + 1);
            }

            _log.Message(LogLevel.Low, $"MultiArch: {request.Method} {RegistryException.Redact(uri)} -> {(int)response.StatusCode} ({stopwatch.ElapsedMilliseconds} ms)");
            _settings.AuthCache.MarkAnswered(uri.Authority);
            if (response.StatusCode != HttpStatusCode.Unauthorized && message.Headers.Authorization is { Scheme: "Bearer" })
            {
                // The registry took the token: refusals before this one (an expired token, refreshed) no longer count.
                _settings.AuthCache.ClearRejections(TokenKey(request.Registry, scopes));
            }

            // Only the registry's own origin may ask for credentials: a challenge from another origin (an upload location
            // or a storage service elsewhere) is answered with no token exchange, and never replaces the registry's.
            if (response.StatusCode == HttpStatusCode.Unauthorized && !reauthenticated && IsSameOrigin(uri, request.Registry, scheme))
            {
                var challenge = AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString());
                if (challenge is not null && (challenge.IsBasic || challenge.IsBearer))
                {
                    reauthenticated = true;
                    _settings.AuthCache.SetChallenge(request.Registry, challenge);
                    if (challenge.IsBearer)
                    {
                        // A first challenge (nothing was sent: the token is fetched once, however many requests wait
                        // for it), too narrow a scope (a token for the wider set), or a token the registry no longer
                        // takes (expired, revoked): exactly that token is dropped, once. Then one more try.
                        var sentKey = TokenKey(request.Registry, scopes);
                        scopes.UnionWith(challenge.Scopes);
                        if (message.Headers.Authorization is { Scheme: "Bearer", Parameter: { } sent } && TokenKey(request.Registry, scopes) == sentKey)
                        {
                            _settings.AuthCache.RejectToken(sentKey, sent);
                        }

                        response.Dispose();
                        continue;
                    }

                    if (authorization is null && await HasCredentialAsync(request, cancellationToken))
                    {
                        // Basic: now that the registry asked, send the credentials.
                        response.Dispose();
                        continue;
                    }
                }
            }

            if (IsTransient(response.StatusCode) && request.IsRetryable && attempt < _settings.MaxRetries)
            {
                attempt++;
                var retryAfter = RetryAfter(response);
                var status = (int)response.StatusCode;
                response.Dispose();
                await DelayAsync(request, attempt, retryAfter, $"HTTP {status}", cancellationToken);
                continue;
            }

            return response;
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await _inFlight.WaitAsync(cancellationToken);
        var body = message.Content as StreamingBody;
        try
        {
            // The clock starts once a slot is free: waiting for one is not the registry's time. A streamed body moves the
            // clock itself: each chunk allows BodyIdleTimeout more, the end of the body RequestTimeout for the headers.
            timeout.CancelAfter(_settings.RequestTimeout);
            body?.Watch(timeout, _settings.BodyIdleTimeout, _settings.RequestTimeout);
            Interlocked.Increment(ref _requestCount);
            return await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (body is { State: StreamingBody.Phase.Reading })
            {
                throw body.SourceFailure($"no bytes came for {Seconds(_settings.BodyIdleTimeout)}");
            }

            if (body is { State: StreamingBody.Phase.Writing })
            {
                throw new TimeoutException($"{Seconds(_settings.BodyIdleTimeout)} with no bytes taken while sending the body");
            }

            // Either the response headers did not come in time (our timer), or the connection was not made in time
            // (SocketsHttpHandler.ConnectTimeout: a cancellation with a TimeoutException inside).
            throw timeout.IsCancellationRequested || ex.InnerException is not TimeoutException
                ? new TimeoutException($"{Seconds(_settings.RequestTimeout)} waiting for the response headers")
                : new TimeoutException($"{Seconds(_settings.ConnectTimeout)} waiting for a connection", ex);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private static string Seconds(TimeSpan time) => time.TotalSeconds.ToString(time.TotalSeconds < 10 ? "0.#" : "0", CultureInfo.InvariantCulture) + " s";

    /// <summary>The longest redirect chain followed (browsers allow 20; registries use one or two).</summary>
    private const int MaxRedirects = 10;

    internal static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>
    /// Sends a GET or HEAD and follows 301, 302, 303, 307 and 308 (a mirror, a storage service) up to
    /// <see cref="MaxRedirects"/> hops: never from HTTPS to plain HTTP, the registry's Authorization only to its own origin,
    /// and at another origin that challenges, a token of that origin's own (asked for without credentials).
    /// </summary>
    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        var response = await SendAsync(request, cancellationToken);
        var from = response.RequestMessage?.RequestUri ?? BuildUri(request, _settings.AuthCache.GetScheme(request.Registry) ?? "https");
        for (var hop = 1; IsRedirect(response.StatusCode) && response.Headers.Location is { } location; hop++)
        {
            var next = location.IsAbsoluteUri ? location : new Uri(from, location);
            response.Dispose();
            if (hop > MaxRedirects)
            {
                throw MultiArchException.Create(MessageId.TooManyRedirects, request.Method, RegistryException.Redact(BuildUri(request, from.Scheme)), MaxRedirects, RegistryException.Redact(next));
            }

            if (from.Scheme == Uri.UriSchemeHttps && next.Scheme != Uri.UriSchemeHttps)
            {
                throw MultiArchException.Create(MessageId.InsecureLocation, request.Registry, request.Method, RegistryException.Redact(next), next.Authority);
            }

            CheckPlainHttp(request, next);
            response = await SendHopAsync(request, next, cancellationToken);
            from = next;
        }

        return response;
    }

    private async Task<HttpResponseMessage> SendHopAsync(RegistryRequest request, Uri uri, CancellationToken cancellationToken)
    {
        var scheme = _settings.AuthCache.GetScheme(request.Registry) ?? "https";
        var sameOrigin = IsSameOrigin(uri, request.Registry, scheme);
        var scopes = new SortedSet<string>(request.Scopes, StringComparer.Ordinal);
        for (var challenged = false; ; challenged = true)
        {
            using var message = new HttpRequestMessage(request.Method, uri);
            foreach (var accept in request.Accept)
            {
                message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            }

            // The registry's own origin gets its Authorization; another origin only a token it issued itself.
            message.Headers.Authorization = sameOrigin
                ? await GetAuthorizationAsync(request.Registry, scopes, cancellationToken)
                : await GetOriginTokenAsync(uri, scopes, cancellationToken);
            var response = await SendOnceAsync(message, cancellationToken);
            _log.Message(LogLevel.Low, $"MultiArch: {request.Method} {RegistryException.Redact(uri)} (redirect) -> {(int)response.StatusCode}");
            if (response.StatusCode != HttpStatusCode.Unauthorized || sameOrigin || challenged ||
                AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString()) is not { IsBearer: true } challenge)
            {
                return response;
            }

            response.Dispose();
            _settings.AuthCache.SetChallenge(OriginKey(uri), challenge);
            scopes.UnionWith(challenge.Scopes);
        }
    }

    /// <summary>The key under which another origin's own challenge is kept (never a registry name: it has a scheme).</summary>
    private static string OriginKey(Uri uri) => "origin:" + uri.GetLeftPart(UriPartial.Authority);

    /// <summary>An anonymous token from the token service another origin (a mirror) named in its own challenge.</summary>
    private async Task<AuthenticationHeaderValue?> GetOriginTokenAsync(Uri uri, SortedSet<string> scopes, CancellationToken cancellationToken)
    {
        var origin = OriginKey(uri);
        if (_settings.AuthCache.GetChallenge(origin) is not { IsBearer: true } challenge)
        {
            return null;
        }

        var key = TokenKey(origin, scopes);
        var token = await _settings.AuthCache.GetTokenAsync(key, () => FetchTokenAsync(uri.Authority, challenge, scopes.ToArray(), credential: null, key, cancellationToken));
        return new AuthenticationHeaderValue("Bearer", token.Value);
    }

    private Uri BuildUri(RegistryRequest request, string scheme)
    {
        if (request.AbsoluteLocation)
        {
            return new Uri(request.PathAndQuery);
        }

        var host = request.Registry == ImageReference.DockerHub ? "registry-1.docker.io" : request.Registry;
        return new Uri($"{scheme}://{host}{request.PathAndQuery}");
    }

    /// <summary>
    /// The registry's own origin: the scheme it is spoken to with, its host, and its port (the scheme's default when the
    /// registry names none). Another port, another scheme or another host is another origin, which never gets credentials.
    /// </summary>
    private static bool IsSameOrigin(Uri uri, string registry, string scheme)
    {
        var authority = registry == ImageReference.DockerHub ? "registry-1.docker.io" : registry;
        if (!Uri.TryCreate(scheme + "://" + authority + "/", UriKind.Absolute, out var origin))
        {
            return false;
        }

        return string.Equals(uri.Scheme, origin.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.IdnHost, origin.IdnHost, StringComparison.OrdinalIgnoreCase)
            && uri.Port == origin.Port;
    }

    /// <summary>
    /// A location the registry hands out (an upload session, a redirect) on plain HTTP is followed only when its host may
    /// be spoken to insecurely: an HTTPS registry never sends the client, its data or its credentials over plain HTTP.
    /// </summary>
    private void CheckPlainHttp(RegistryRequest request, Uri uri)
    {
        if (uri.Scheme != Uri.UriSchemeHttps && !_settings.IsInsecure(request.Registry) && !_settings.IsInsecureHost(uri.Host))
        {
            throw MultiArchException.Create(MessageId.InsecureLocation, request.Registry, request.Method, RegistryException.Redact(uri), uri.Authority);
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    private async Task DelayAsync(RegistryRequest request, int attempt, TimeSpan? retryAfter, string reason, CancellationToken cancellationToken)
    {
        if (retryAfter is { } asked && asked > _settings.MaxRetryAfter)
        {
            throw MultiArchException.Create(MessageId.RetryAfterTooLong, request.Registry, Math.Ceiling(asked.TotalSeconds), request.Method, PathOnly(request), _settings.MaxRetryAfter.TotalSeconds);
        }

        // Exponential, with jitter (0.5 to 1.5 times the step) so that concurrent requests do not retry in lock step.
        var step = Math.Min(_settings.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1), MaxBackoffSeconds * 1000);
        var backoff = TimeSpan.FromMilliseconds(step * (0.5 + Random.Shared.NextDouble()));
        var delay = retryAfter is { } wanted && wanted > backoff ? wanted : backoff;
        _log.Message(LogLevel.Low, $"MultiArch: {request.Method} {PathOnly(request)} on '{request.Registry}' failed ({reason}); retry {attempt} of {_settings.MaxRetries} in {delay.TotalMilliseconds:0} ms{(retryAfter is null ? string.Empty : " (Retry-After)")}.");
        await Task.Delay(delay, cancellationToken);
    }

    /// <summary>
    /// Runs a read (a request and its body) again when the body breaks off (a reset or a premature end after the headers
    /// came): the HTTP layer's retries end with the headers, so the read as a whole is tried again, up to
    /// <see cref="RegistrySettings.MaxRetries"/> times, then <c>MULTIARCH1015</c>. Only for requests without side effects.
    /// </summary>
    private async Task<T> RetryBrokenBodyAsync<T>(RegistryRequest request, Func<Task<T>> read, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await read();
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                var reason = (ex is TimeoutException ? "the response body stalled: " : "the response body broke off: ") + ex.Message;
                if (attempt >= _settings.MaxRetries)
                {
                    throw MultiArchException.Create(ex, MessageId.TooManyRetries, request.Method, RegistryException.Redact(BuildUri(request, _settings.AuthCache.GetScheme(request.Registry) ?? "https")), attempt + 1, reason);
                }

                await DelayAsync(request, attempt + 1, null, reason, cancellationToken);
            }
        }
    }

    /// <summary>
    /// A failed PUT that the registry may have applied all the same: the connection failed or timed out after the request
    /// went out (1001, 1008, 1015), the last of several tries got a 5xx, 408 or 429 (an earlier one may have been applied
    /// and its answer lost), or the digest header does not match (2005). The reference is read back before the failure
    /// is believed. Refusals (4xx) and failures before sending (credentials, tokens) are believed at once.
    /// </summary>
    private static bool MayHaveBeenApplied(MultiArchException ex) => ex switch
    {
        RegistryException { StatusCode: { } status } => (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests,
        _ => ex.Code is "MULTIARCH1001" or "MULTIARCH1008" or "MULTIARCH1015" or "MULTIARCH2005",
    };

    /// <summary>
    /// After a PUT whose outcome is unknown: the reference read back. Pointing at these bytes, the PUT succeeded after all.
    /// Otherwise the failure stands as <c>MULTIARCH1019</c>: the reference points where it did or at these bytes (a
    /// registry may show a write late), which the message says, with what reading it back found.
    /// </summary>
    private async Task CheckAppliedAsync(ImageReference target, ManifestContent content, MultiArchException failure, CancellationToken cancellationToken)
    {
        string found;
        try
        {
            var now = await HeadManifestAsync(target, cancellationToken);
            if (now?.Digest == content.Digest)
            {
                _log.Message(LogLevel.Low, $"MultiArch: PUT {target} failed ({failure.Code}), but the registry applied it: {target} points at {content.Digest}.");
                return;
            }

            found = now is null ? "found nothing there" : $"found {now.Digest}";
        }
        catch (MultiArchException check)
        {
            found = $"failed too ({check.Code}: {check.Message})";
        }

        throw MultiArchException.Create(failure, MessageId.PutOutcomeUnknown, target, content.Digest, $"{failure.Code}: {failure.Message}", found);
    }

    private static string PathOnly(RegistryRequest request)
    {
        var text = request.PathAndQuery;
        if (request.AbsoluteLocation && Uri.TryCreate(text, UriKind.Absolute, out var absolute))
        {
            return absolute.AbsolutePath;
        }

        var query = text.IndexOf('?', StringComparison.Ordinal);
        return query >= 0 ? text[..query] : text;
    }

    private static bool IsTlsFailure(Exception ex)
    {
        for (var current = ex; current is not null; current = current.InnerException)
        {
            if (current is AuthenticationException || (current is HttpRequestException http && http.HttpRequestError == HttpRequestError.SecureConnectionError))
            {
                return true;
            }
        }

        return false;
    }

    private MultiArchException TransportError(RegistryRequest request, Uri uri, Exception ex, int attempts)
    {
        if (IsTlsFailure(ex))
        {
            var auth = FindInner<AuthenticationException>(ex);
            var detail = auth?.Message ?? ex.Message;
            return detail.Contains("certificate", StringComparison.OrdinalIgnoreCase)
                ? MultiArchException.Create(ex, MessageId.TlsUntrusted, request.Registry, detail)
                : MultiArchException.Create(ex, MessageId.PlainHttpRegistry, request.Registry);
        }

        if (ex is TimeoutException)
        {
            // "100 s waiting for the response headers" or "30 s waiting for a connection", on every attempt.
            var what = attempts > 1 ? $"{ex.Message}, on each of {attempts} attempts" : ex.Message;
            return MultiArchException.Create(ex, MessageId.RequestTimedOut, request.Method, RegistryException.Redact(uri), what);
        }

        var socket = FindInner<SocketException>(ex);
        var reason = socket?.Message ?? ex.Message;
        return attempts > 1
            ? MultiArchException.Create(ex, MessageId.TooManyRetries, request.Method, RegistryException.Redact(uri), attempts, reason)
            : MultiArchException.Create(ex, MessageId.RegistryUnreachable, request.Registry, reason);
    }

    private static bool IsConnectionRefused(Exception ex) =>
        FindInner<SocketException>(ex) is { SocketErrorCode: SocketError.ConnectionRefused };

    internal static T? FindInner<T>(Exception ex)
        where T : Exception
    {
        for (var current = ex; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }

    // ---------------------------------------------------------------- authentication

    private async Task<bool> HasCredentialAsync(RegistryRequest request, CancellationToken cancellationToken) =>
        await _settings.Credentials.GetCredentialAsync(request.Registry, AccessOf(request.Scopes), cancellationToken) is { HasBasic: true };

    private static RegistryAccess AccessOf(IEnumerable<string> scopes) =>
        scopes.Any(s => s.EndsWith(",push", StringComparison.Ordinal) || s.EndsWith(":push", StringComparison.Ordinal)) ? RegistryAccess.Push : RegistryAccess.Pull;

    private static string TokenKey(string registry, IEnumerable<string> scopes) => registry + "|" + string.Join(' ', scopes);

    private async Task<AuthenticationHeaderValue?> GetAuthorizationAsync(string registry, SortedSet<string> scopes, CancellationToken cancellationToken)
    {
        var challenge = _settings.AuthCache.GetChallenge(registry);
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
        var token = await _settings.AuthCache.GetTokenAsync(key, () => FetchTokenAsync(registry, challenge, scopes.ToArray(), credential, key, cancellationToken));
        return new AuthenticationHeaderValue("Bearer", token.Value);
    }

    private async Task<CachedToken> FetchTokenAsync(string registry, AuthChallenge challenge, string[] scopes, RegistryCredential? credential, string key, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(realm.UserInfo))
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, challenge.Realm ?? "(none)", registry, "the registry's challenge names no valid http(s) realm");
        }

        if (realm.Scheme == Uri.UriSchemeHttp && !_settings.IsInsecure(registry) && !_settings.IsInsecureHost(realm.Host))
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "the token service is plain HTTP and the registry is not listed as insecure");
        }

        if (_settings.AuthCache.RejectionCount(key) >= 2)
        {
            throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "it was asked twice already for this access and did not grant it; stopping so the account is not locked");
        }

        var refusal = credential is null ? null : await RealmRefusalAsync(registry, realm, cancellationToken);
        var realmAllowed = refusal is null;
        if (!realmAllowed)
        {
            _log.Message(LogLevel.Low, $"MultiArch: the token service {RegistryException.Redact(realm)} {refusal}; asking it for an anonymous token, without credentials.");
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
        var pseudo = new RegistryRequest(registry, HttpMethod.Get, realm.AbsolutePath) { Idempotent = true };
        for (var attempt = 0; ; attempt++)
        {
            using var message = CreateMessage();
            HttpResponseMessage response;
            try
            {
                response = await SendOnceAsync(message, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                if (attempt < _settings.MaxRetries && !IsTlsFailure(ex))
                {
                    await DelayAsync(pseudo, attempt + 1, null, ex.Message, cancellationToken);
                    continue;
                }

                throw MultiArchException.Create(ex, MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, ex.Message);
            }

            using (response)
            {
                _log.Message(LogLevel.Low, $"MultiArch: token {RegistryException.Redact(realm)} [{string.Join(' ', scopes)}] -> {(int)response.StatusCode}");
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                {
                    _settings.AuthCache.RecordRejection(key);
                    if (!realmAllowed && credential is not null)
                    {
                        throw MultiArchException.Create(MessageId.RealmNotAllowed, registry, RegistryException.Redact(realm), refusal);
                    }

                    throw sendCredential is null
                        ? MultiArchException.Create(MessageId.AuthenticationRequired, registry)
                        : MultiArchException.Create(MessageId.AuthenticationFailed, registry, sendCredential.Source);
                }

                if (IsTransient(response.StatusCode) && attempt < _settings.MaxRetries)
                {
                    await DelayAsync(pseudo, attempt + 1, RetryAfter(response), $"HTTP {(int)response.StatusCode}", cancellationToken);
                    continue;
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var after = attempt > 0 ? $" after {attempt + 1} attempts" : string.Empty;
                    throw MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, $"HTTP {(int)response.StatusCode}{after}");
                }

                var body = await ReadBoundedAsync(response, MaxErrorBytes, () => MultiArchException.Create(MessageId.TokenRequestFailed, RegistryException.Redact(realm), registry, "the token response is larger than 64 KiB"), cancellationToken);
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
    private async Task<string?> RealmRefusalAsync(string registry, Uri realm, CancellationToken cancellationToken)
    {
        var registryHost = RegistrySettings.HostOf(registry == ImageReference.DockerHub ? "registry-1.docker.io" : registry);
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

        if (realm.Scheme != Uri.UriSchemeHttps || (_settings.AuthCache.GetScheme(registry) ?? Uri.UriSchemeHttps) != Uri.UriSchemeHttps)
        {
            return "is not on the registry's host, and only a registry reached over HTTPS may name a token service elsewhere, over HTTPS";
        }

        if (!await NetworkAddresses.IsPrivateAsync(registryHost, cancellationToken) && await NetworkAddresses.IsPrivateAsync(realm.Host, cancellationToken))
        {
            return "has a loopback or private network address, and the registry is not on one";
        }

        return null;
    }

    // ---------------------------------------------------------------- errors

    private async Task<MultiArchException> ErrorAsync(RegistryRequest request, HttpResponseMessage response, ImageReference reference, CancellationToken cancellationToken)
    {
        var uri = response.RequestMessage?.RequestUri ?? BuildUri(request, "https");
        var codes = new List<string>();
        var details = new List<string>();
        if (request.Method != HttpMethod.Head)
        {
            try
            {
                var body = await ReadBoundedAsync(response, MaxErrorBytes, () => new InvalidDataException(), cancellationToken);
                using var document = JsonDocument.Parse(body);
                if (document.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
                {
                    foreach (var error in errors.EnumerateArray())
                    {
                        if (OciJson.GetString(error, "code") is { } code)
                        {
                            codes.Add(code);
                            var text = OciJson.GetString(error, "message") is { } said ? $"{code}: {said}" : code;
                            details.Add(Detail(error) is { } detail ? $"{text}; {detail}" : text);
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException or HttpRequestException or IOException)
            {
                // An unreadable error body changes nothing: the status says enough.
            }
        }

        var status = response.StatusCode;
        var method = request.Method.Method;
        var credential = await _settings.Credentials.GetCredentialAsync(request.Registry, AccessOf(request.Scopes), cancellationToken);
        var action = request.Method == HttpMethod.Get || request.Method == HttpMethod.Head ? "pull" : "push";
        var codeText = codes.Count > 0 ? " (" + string.Join("; ", details.Take(3)) + ")" : string.Empty;
        var attempts = response.RequestMessage?.Options.TryGetValue(s_attempts, out var sent) == true ? sent : 1;
        if (IsTransient(status) && attempts > 1)
        {
            // Retried to the limit: say so, with the last answer (and how long a throttling registry asked to wait).
            var wait = RetryAfter(response) is { } after ? $", asking to wait {Math.Ceiling(after.TotalSeconds)} s" : string.Empty;
            return RegistryException.From(MessageId.TooManyRetries, method, uri, status, codes, method, RegistryException.Redact(uri), attempts, $"the registry answered HTTP {(int)status}{codeText}{wait}");
        }

        if (status == HttpStatusCode.Unauthorized && credential is not null && _settings.AuthCache.GetChallenge(request.Registry) is { IsBearer: true, Realm: { } realmText } &&
            Uri.TryCreate(realmText, UriKind.Absolute, out var realm) && await RealmRefusalAsync(request.Registry, realm, cancellationToken) is { } refusal)
        {
            // The credentials were kept from a token service on another host, and an anonymous token was not enough.
            return RegistryException.From(MessageId.RealmNotAllowed, method, uri, status, codes, request.Registry, RegistryException.Redact(realm), refusal);
        }

        if (request.Manifest is { } manifest && request.Method == HttpMethod.Put &&
            (status == HttpStatusCode.UnsupportedMediaType || (status == HttpStatusCode.BadRequest && (codes.Contains("MANIFEST_INVALID") || codes.Contains("UNSUPPORTED")))))
        {
            // A registry that does not take this kind of manifest (older Quay refuses OCI indexes): say which, and the way out.
            return RegistryException.From(MessageId.ManifestMediaTypeRefused, method, uri, status, codes, request.Registry, reference, manifest.MediaType, (int)status, codeText, MediaTypeFix(manifest));
        }

        return status switch
        {
            HttpStatusCode.Unauthorized when credential is null => RegistryException.From(MessageId.AuthenticationRequired, method, uri, status, codes, request.Registry),
            HttpStatusCode.Unauthorized => RegistryException.From(MessageId.AuthenticationFailed, method, uri, status, codes, request.Registry, credential.Source),
            HttpStatusCode.Forbidden => RegistryException.From(MessageId.AccessDenied, method, uri, status, codes, request.Registry, action, reference.Repository, codes.Count > 0 ? string.Join(", ", codes) : "HTTP 403"),
            HttpStatusCode.NotFound when codes.Contains("NAME_UNKNOWN") => RegistryException.From(MessageId.RepositoryNotFound, method, uri, status, codes, request.Registry, reference.Repository, reference.Original),
            HttpStatusCode.NotFound when request.PathAndQuery.Contains("/manifests/", StringComparison.Ordinal) =>
                RegistryException.From(MessageId.ManifestNotFound, method, uri, status, codes, reference.Original, reference.ReferenceForApi, reference.Repository),
            _ => RegistryException.From(MessageId.UnexpectedStatus, method, uri, status, codes, method, RegistryException.Redact(uri), (int)status, codeText, Hint(status)),
        };
    }

    /// <summary>The registry's own <c>detail</c> of an error (a string, or JSON shown as it came), at most 300 characters.</summary>
    private static string? Detail(JsonElement error)
    {
        if (!error.TryGetProperty("detail", out var detail) || detail.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return null;
        }

        var text = (detail.ValueKind == JsonValueKind.String ? detail.GetString() : detail.GetRawText())?.Trim();
        return string.IsNullOrEmpty(text) ? null : "detail: " + (text.Length > 300 ? text[..300] + "..." : text);
    }

    /// <summary>The way out when a registry refuses a manifest's media type.</summary>
    private static string MediaTypeFix(ManifestContent manifest) => manifest switch
    {
        ImageIndex { MediaType: MediaTypes.OciIndex } index when index.Manifests.All(m => MediaTypes.IsDocker(m.MediaType)) =>
            "The registry may not accept OCI image indexes: every child is a Docker manifest, so set ContainerManifestFormat=docker to push a Docker manifest list instead.",
        ImageIndex { MediaType: MediaTypes.OciIndex } =>
            "The registry may not accept OCI image indexes, and some children are OCI manifests, which a Docker manifest list (ContainerManifestFormat=docker) cannot hold: publish the children as Docker manifests, or use a registry that accepts OCI.",
        _ => "Check that the registry supports this media type.",
    };

    private static string Hint(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => "The registry rejected the request as malformed; check the registry supports this media type.",
        HttpStatusCode.UnsupportedMediaType => "The registry does not accept this media type.",
        HttpStatusCode.TooManyRequests => "The registry is throttling requests; try again later.",
        _ when (int)status >= 500 => "The registry failed; try again later.",
        _ => "Check the registry's documentation for this status.",
    };
}

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
