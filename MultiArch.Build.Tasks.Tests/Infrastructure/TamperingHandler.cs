namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// In front of the real transport, rewrites responses a real registry would never send (a tampered body, a huge
/// manifest). Only for faults the real registry cannot produce.
/// </summary>
internal sealed class TamperingHandler : DelegatingHandler
{
    private readonly Func<HttpRequestMessage, HttpResponseMessage, Task<HttpResponseMessage>> _tamper;

    public TamperingHandler(HttpMessageHandler inner, Func<HttpRequestMessage, HttpResponseMessage, Task<HttpResponseMessage>> tamper)
        : base(inner)
    {
        _tamper = tamper;
    }

    public List<string> Requests { get; } = [];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Requests)
        {
            Requests.Add($"{request.Method} {request.RequestUri!.PathAndQuery}");
        }

        var response = await base.SendAsync(request, cancellationToken);
        return await _tamper(request, response);
    }

    /// <summary>Replaces the body, keeping status and headers.</summary>
    public static async Task<HttpResponseMessage> WithBody(HttpResponseMessage response, byte[] body)
    {
        var contentType = response.Content.Headers.ContentType;
        await response.Content.ReadAsByteArrayAsync();
        response.Content = new ByteArrayContent(body);
        response.Content.Headers.ContentType = contentType;
        return response;
    }
}
