using System.Net;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// A registry that exists only as a script, for names no test can listen on (a public host, port 443): every request is
/// recorded (method, URL, authorization scheme) and answered 404 unless <see cref="Answer"/> says otherwise.
/// </summary>
internal abstract class ScriptedRegistryHandler : HttpMessageHandler
{
    public List<(string Method, Uri Uri, string? Authorization)> Requests { get; } = [];

    /// <summary>Sets the status, headers and content of <paramref name="response"/> (a 404 until changed).</summary>
    protected abstract void Answer(HttpRequestMessage request, Uri uri, HttpResponseMessage response);

    protected sealed override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        lock (Requests)
        {
            Requests.Add((request.Method.Method, uri, request.Headers.Authorization?.Scheme));
        }

        var response = new HttpResponseMessage(HttpStatusCode.NotFound) { RequestMessage = request };
        Answer(request, uri, response);
        return Task.FromResult(response);
    }
}
