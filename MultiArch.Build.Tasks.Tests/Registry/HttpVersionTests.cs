using System.Collections.Concurrent;
using System.Net.Sockets;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Which HTTP version the requests go out with: HTTP/2 where the registry offers it in the TLS handshake (distribution
/// does), so that the requests sent side by side share one connection; HTTP/1.1 over plain HTTP.
/// </summary>
[TestClass]
public sealed class HttpVersionTests
{
    private static readonly IReadOnlyList<Platform> TenPlatforms =
    [
        .. new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le", "linux/loong64" }.Select(Platform.Parse),
    ];

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    [DataRow(RegistryMode.Tls, 2, DisplayName = "TLS: HTTP/2, one connection for the 10 children read side by side")]
    [DataRow(RegistryMode.Open, 1, DisplayName = "plain HTTP: HTTP/1.1")]
    public async Task Inspect_SpeaksHttp2WhereTheRegistryOffersIt(RegistryMode mode, int expectedMajor)
    {
        var server = await TestRegistries.Get(mode);
        var repository = TestNames.Repository("http-version");
        await PushTestKit.SeedDirectAsync(server, repository, "1.0", TestImages.Index(TenPlatforms, repository), Cancel);
        var versions = new ConcurrentQueue<Version>();
        var connections = 0;

        var engine = new FakeBuildEngine();
        var task = new InspectImageManifest
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(server)),
            Image = $"{server.Host}/{repository}:1.0",
            TransportFactory = () =>
            {
                var handler = (SocketsHttpHandler)server.CreateTrustingHandler();
                handler.EnableMultipleHttp2Connections = true;
                handler.ConnectCallback = async (context, cancellationToken) =>
                {
                    Interlocked.Increment(ref connections);
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                };
                return new VersionRecorder(handler, versions);
            },
        };

        Assert.IsTrue(await Task.Run(task.Execute), engine.AllText);

        Assert.AreEqual(11, versions.Count, "the index and its 10 children");
        Assert.IsTrue(versions.All(v => v.Major == expectedMajor), string.Join(", ", versions));
        if (expectedMajor == 2)
        {
            Assert.AreEqual(1, connections, "every request on the one HTTP/2 connection");
        }
        else
        {
            Assert.IsTrue(connections > 1, $"HTTP/1.1 opens a connection per request side by side ({connections})");
        }
    }

    private sealed class VersionRecorder(HttpMessageHandler inner, ConcurrentQueue<Version> versions) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            versions.Enqueue(response.Version);
            return response;
        }
    }
}
