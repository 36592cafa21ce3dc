using System.Text.Json;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.RegistryTest;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// <c>dotnet msbuild -t:TestContainerRegistry</c> on a project that consumes the packed package, against Debian's
/// registry: the table reaches the console at the default (minimal) verbosity, the report is valid JSON where
/// <c>ContainerRegistryTestReport</c> says, and the registry is left as it was.
/// </summary>
[TestClass]
public sealed class RegistryTestEndToEndTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task TableOnTheConsole_ReportIsJson_NothingLeftBehind()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("e2e-regtest");
        var project = await TestProject.CreateAsync("regtest", cancellationToken: TestContext.CancellationToken);
        var reportPath = Path.Combine(project.Directory, "out", "registry.json");

        var result = await project.MSBuildAsync(
            "TestContainerRegistry",
            new()
            {
                ["ContainerRegistryTestRepository"] = $"{registry.Host}/{repository}",
                ["ContainerRegistryTestReport"] = reportPath,
                ["ContainerRegistryTestRequire"] = "DockerManifestList;OciIndex;CrossRepositoryMount;Delete",
            },
            TestProject.RegistryEnvironment(registry),
            cancellationToken: TestContext.CancellationToken);

        TestContext.WriteLine(result.Console);
        result.ShouldSucceed()
            .ShouldContain($"Registry test of {registry.Host}/{repository}: run ")
            .ShouldContain("  Capability              Result         Details")
            .ShouldContain("  OciIndex *              supported      3 platforms")
            .ShouldContain("  Referrers               not supported  GET /v2/")
            .ShouldContain("  Delete *                supported      ")
            .ShouldContain("Left behind: nothing.")
            .ShouldContain($"Tested {registry.Host}/{repository}: 12 supported, 1 not supported, 0 skipped. Report: {reportPath}")
            .ShouldNotContain("warning", "a warning")
            .ShouldShowNoStackTrace();

        using var report = JsonDocument.Parse(await File.ReadAllBytesAsync(reportPath, TestContext.CancellationToken));
        var root = report.RootElement;
        Assert.AreEqual($"{registry.Host}/{repository}", root.GetProperty("repository").GetString());
        Assert.AreEqual($"{registry.Host}/{repository}-source", root.GetProperty("sourceRepository").GetString());
        Assert.AreEqual("passed", root.GetProperty("result").GetString());
        CollectionAssert.AreEqual(new[] { "DockerManifestList", "OciIndex", "CrossRepositoryMount", "Delete" }, root.GetProperty("required").EnumerateArray().Select(e => e.GetString()).ToArray());
        var rows = root.GetProperty("capabilities").EnumerateArray().ToList();
        CollectionAssert.AreEqual(RegistryCapabilities.All.Select(c => c.Name).ToArray(), rows.Select(r => r.GetProperty("name").GetString()).ToArray());
        foreach (var row in rows)
        {
            var name = row.GetProperty("name").GetString();
            result.ShouldContain($"  {name}");
            Assert.AreEqual(name == "Referrers" ? "not supported" : "supported", row.GetProperty("result").GetString(), name);
        }

        Assert.AreEqual(0, root.GetProperty("leftBehind").GetArrayLength());
        Assert.IsEmpty(await RegistryContent.TagsAsync(registry, repository, TestContext.CancellationToken));
    }
}
