using System.Net;
using System.Net.Http.Headers;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Authenticates a request from what the build knows about its registry, and answers one 401 challenge: a first challenge
/// (a token fetched once, however many requests wait for it), too narrow a scope (a token for the wider set), or a token
/// the registry no longer takes (exactly that token dropped, once). Only the registry's own origin gets its credentials
/// and may challenge; another origin reached by a redirect (a mirror) may get a token of its own, asked for anonymously.
/// </summary>
internal sealed class AuthHandler(RegistrySettings settings, TokenService tokens, IRegistrySender inner, Func<RegistryRequest, Uri> uriOf) : IRegistrySender
{
    public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        var scopes = new SortedSet<string>(request.Scopes, StringComparer.Ordinal);
        var uri = uriOf(request);
        var sameOrigin = SchemeHandler.IsSameOrigin(uri, request.Registry, settings.State.GetScheme(request.Registry) ?? Uri.UriSchemeHttps);
        if (!sameOrigin && request.IsRedirectHop)
        {
            return await SendToOtherOriginAsync(request, uri, scopes, cancellationToken);
        }

        for (var reauthenticated = false; ; reauthenticated = true)
        {
            var authorization = await tokens.GetAuthorizationAsync(request.Registry, scopes, cancellationToken);
            var sent = sameOrigin ? authorization : null;
            var response = await inner.SendAsync(request with { Authorization = sent }, cancellationToken);
            if (response.StatusCode != HttpStatusCode.Unauthorized && sent is { Scheme: "Bearer" })
            {
                // The registry took the token: refusals before this one (an expired token, refreshed) no longer count.
                settings.State.ClearRejections(TokenService.TokenKey(request.Registry, scopes));
            }

            // Only the registry's own origin may ask for credentials: a challenge from another origin (an upload location
            // or a storage service elsewhere) is answered with no token exchange, and never replaces the registry's.
            if (response.StatusCode != HttpStatusCode.Unauthorized || reauthenticated || !sameOrigin ||
                AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString()) is not { } challenge || !(challenge.IsBasic || challenge.IsBearer))
            {
                return response;
            }

            settings.State.SetChallenge(request.Registry, challenge);
            if (challenge.IsBearer)
            {
                var sentKey = TokenService.TokenKey(request.Registry, scopes);
                scopes.UnionWith(challenge.Scopes);
                if (sent is { Scheme: "Bearer", Parameter: { } token } && TokenService.TokenKey(request.Registry, scopes) == sentKey)
                {
                    settings.State.RejectToken(sentKey, token);
                }
            }
            else if (authorization is not null || !await tokens.HasCredentialAsync(request.Registry, scopes, cancellationToken))
            {
                // Basic: the credentials were sent and refused, or there are none to send.
                return response;
            }

            response.Dispose();
        }
    }

    private async Task<HttpResponseMessage> SendToOtherOriginAsync(RegistryRequest request, Uri uri, SortedSet<string> scopes, CancellationToken cancellationToken)
    {
        for (var challenged = false; ; challenged = true)
        {
            var authorization = await tokens.GetOriginTokenAsync(uri, scopes, cancellationToken);
            var response = await inner.SendAsync(request with { Authorization = authorization }, cancellationToken);
            if (response.StatusCode != HttpStatusCode.Unauthorized || challenged ||
                AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString()) is not { IsBearer: true } challenge)
            {
                return response;
            }

            response.Dispose();
            settings.State.SetChallenge(TokenService.OriginKey(uri), challenge);
            scopes.UnionWith(challenge.Scopes);
        }
    }
}
