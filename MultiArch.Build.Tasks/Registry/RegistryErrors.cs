using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Turns what a registry answered into the coded error that says what failed, where, and how to fix it: the status,
/// the distribution error codes with their <c>message</c> and <c>detail</c>, the credentials' source, a refused token
/// service, a refused media type and its way out; or, for the registry self-test, into a <see cref="RegistryAnswer"/>.
/// </summary>
internal sealed class RegistryErrors(RegistrySettings settings, TokenService tokens)
{
    private readonly RegistrySettings _settings = settings;
    private readonly TokenService _tokens = tokens;

    public async Task<MultiArchException> ErrorAsync(RegistryRequest request, HttpResponseMessage response, ImageReference reference, CancellationToken cancellationToken)
    {
        string? firstMessage = null;
        var error = await CreateErrorAsync(request, response, reference, message => firstMessage ??= message, cancellationToken);
        if (error is RegistryException registry)
        {
            registry.RegistryMessage = firstMessage;
        }

        return error;
    }

    private async Task<MultiArchException> CreateErrorAsync(RegistryRequest request, HttpResponseMessage response, ImageReference reference, Action<string> said, CancellationToken cancellationToken)
    {
        var uri = response.RequestMessage?.RequestUri ?? request.UriFor(Uri.UriSchemeHttps);
        var codes = new List<string>();
        var details = new List<string>();
        if (request.Method != HttpMethod.Head)
        {
            try
            {
                var body = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxErrorBytes, () => new InvalidDataException(), cancellationToken);
                using var document = JsonDocument.Parse(body);
                foreach (var (code, registryMessage, error) in ErrorEntries(document.RootElement))
                {
                    codes.Add(code);
                    if (registryMessage is not null)
                    {
                        said(registryMessage);
                    }

                    var text = registryMessage is not null ? $"{code}: {registryMessage}" : code;
                    details.Add(Detail(error) is { } detail ? $"{text}; {detail}" : text);
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException or HttpRequestException or IOException)
            {
                // An unreadable error body changes nothing: the status says enough.
            }
        }

        var status = response.StatusCode;
        var method = request.Method.Method;
        var credential = await _settings.Credentials.GetCredentialAsync(request.Registry, TokenService.AccessOf(request.Scopes), cancellationToken);
        var action = request.Method == HttpMethod.Get || request.Method == HttpMethod.Head ? "pull" : "push";
        var codeText = codes.Count > 0 ? " (" + string.Join("; ", details.Take(3)) + ")" : string.Empty;
        var attempts = response.RequestMessage?.Options.TryGetValue(RegistryWire.Attempts, out var sent) == true ? sent : 1;
        if (RegistryFailures.IsTransient(status) && attempts > 1)
        {
            // Retried to the limit: say so, with the last answer (and how long a throttling registry asked to wait).
            var wait = RetryPolicy.RetryAfter(response) is { } after ? $", asking to wait {Math.Ceiling(after.TotalSeconds)} s" : string.Empty;
            return RegistryException.From(MessageId.TooManyRetries, method, uri, status, codes, method, RegistryException.Redact(uri), attempts, $"the registry answered HTTP {(int)status}{codeText}{wait}");
        }

        if (status == HttpStatusCode.Unauthorized && credential is not null && _settings.State.GetChallenge(request.Registry) is { IsBearer: true, Realm: { } realmText } &&
            Uri.TryCreate(realmText, UriKind.Absolute, out var realm) && await _tokens.RealmRefusalAsync(request.Registry, realm, cancellationToken) is { } refusal)
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

    /// <summary>
    /// The answer to a request: status, and for a failure the distribution error codes and first message (or the body's
    /// first line). A 401 left after authentication is not an answer to report but a fault to fix: it throws the
    /// credentials error every other request throws (<c>MULTIARCH1003</c>, <c>MULTIARCH1004</c>).
    /// </summary>
    public async Task<RegistryAnswer> AnswerAsync(RegistryRequest request, HttpResponseMessage response, ImageReference reference, CancellationToken cancellationToken)
    {
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            throw await ErrorAsync(request, response, reference, cancellationToken);
        }

        var path = response.RequestMessage?.RequestUri?.AbsolutePath ?? request.PathAndQuery.Split('?')[0];
        var codes = new List<string>();
        string? message = null;
        if ((int)response.StatusCode >= 300 && request.Method != HttpMethod.Head)
        {
            try
            {
                var body = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxErrorBytes, () => new InvalidDataException(), cancellationToken);
                var text = System.Text.Encoding.UTF8.GetString(body).Trim();
                if (text.StartsWith('{'))
                {
                    using var document = JsonDocument.Parse(body);
                    foreach (var (code, registryMessage, _) in ErrorEntries(document.RootElement))
                    {
                        codes.Add(code);
                        message ??= registryMessage;
                    }
                }
                else if (text.Length > 0)
                {
                    var line = text.Split('\n')[0].Trim();
                    message = line.Length > 200 ? line[..200] + "..." : line;
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException or HttpRequestException or IOException)
            {
                // An unreadable body changes nothing: the status says enough.
            }
        }

        return new RegistryAnswer(request.Method.Method, path, (int)response.StatusCode, codes, message);
    }

    /// <summary>The entries of a distribution error body (<c>{"errors": [{"code", "message", "detail"}]}</c>) that carry a code.</summary>
    private static IEnumerable<(string Code, string? Message, JsonElement Entry)> ErrorEntries(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("errors", out var errors) || errors.ValueKind != JsonValueKind.Array)
        {
            yield break;
        }

        foreach (var error in errors.EnumerateArray())
        {
            if (OciJson.GetString(error, "code") is { } code)
            {
                yield return (code, OciJson.GetString(error, "message"), error);
            }
        }
    }

    public static MultiArchException Transport(RegistryRequest request, Uri uri, Exception ex, int attempts)
    {
        if (RegistryFailures.IsTlsFailure(ex))
        {
            var auth = RegistryFailures.FindInner<AuthenticationException>(ex);
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

        var socket = RegistryFailures.FindInner<SocketException>(ex);
        var reason = socket?.Message ?? ex.Message;
        return attempts > 1
            ? MultiArchException.Create(ex, MessageId.TooManyRetries, request.Method, RegistryException.Redact(uri), attempts, reason)
            : MultiArchException.Create(ex, MessageId.RegistryUnreachable, request.Registry, reason);
    }
}
