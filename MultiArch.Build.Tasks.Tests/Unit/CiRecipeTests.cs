using System.Text.RegularExpressions;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>The CI recipes in the README parse, and run the msbuild steps the package documents.</summary>
[TestClass]
public sealed partial class CiRecipeTests
{
    private static Dictionary<string, YamlMappingNode> Recipes()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        var recipes = new Dictionary<string, YamlMappingNode>(StringComparer.Ordinal);
        foreach (Match match in RecipeBlock().Matches(readme))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(match.Groups["yaml"].Value));
            recipes[match.Groups["title"].Value.Trim()] = (YamlMappingNode)stream.Documents[0].RootNode;
        }

        return recipes;
    }

    /// <summary>Every <c>run:</c> or <c>script:</c> command under a node, folded to one line.</summary>
    private static List<string> Commands(YamlNode node)
    {
        var commands = new List<string>();
        Walk(node);
        return commands;

        void Walk(YamlNode current)
        {
            switch (current)
            {
                case YamlMappingNode mapping:
                    foreach (var (key, value) in mapping.Children)
                    {
                        if (key is YamlScalarNode { Value: "run" or "script" } && value is YamlScalarNode command)
                        {
                            commands.Add(Regex.Replace(command.Value!, @"\s+", " ").Trim());
                        }
                        else
                        {
                            Walk(value);
                        }
                    }

                    break;
                case YamlSequenceNode sequence:
                    foreach (var child in sequence)
                    {
                        Walk(child);
                    }

                    break;
            }
        }
    }

    [TestMethod]
    public void TheReadmeCarriesFourRecipes()
    {
        CollectionAssert.AreEquivalent(
            new[] { "GitHub Actions: one job", "GitHub Actions: a matrix and a final stitch job", "Azure Pipelines: one job", "Azure Pipelines: a matrix and a final stitch job" },
            Recipes().Keys.ToArray());
    }

    [TestMethod]
    [DataRow("GitHub Actions: one job")]
    [DataRow("Azure Pipelines: one job")]
    public void OneJobRecipesPublishEveryPlatformInOneStep(string title)
    {
        var publish = Commands(Recipes()[title]).Where(c => c.StartsWith("dotnet ", StringComparison.Ordinal)).ToList();
        Assert.HasCount(1, publish);
        StringAssert.StartsWith(publish[0], "dotnet publish ");
        StringAssert.Contains(publish[0], "-t:PublishMultiArchContainer");
        StringAssert.Contains(publish[0], "-p:ContainerRegistry=");
        AssertNoSecretProperties(publish);
    }

    [TestMethod]
    [DataRow("GitHub Actions: a matrix and a final stitch job", "${{ matrix.rid }}", "${{ github.ref_name }}", "needs")]
    [DataRow("Azure Pipelines: a matrix and a final stitch job", "$(rid)", "$(Build.SourceBranchName)", "dependsOn")]
    public void MatrixRecipesPublishPerRidAndStitchByTheNamingConvention(string title, string rid, string tag, string dependsKey)
    {
        var recipe = Recipes()[title];
        var jobs = recipe.Children[new YamlScalarNode("jobs")];
        var (matrixJob, stitchJob) = jobs switch
        {
            YamlMappingNode map => ((YamlNode)map.Children[new YamlScalarNode("image")], (YamlNode)map.Children[new YamlScalarNode("index")]),
            YamlSequenceNode list => (list.Children[0], list.Children[1]),
            _ => throw new AssertFailedException("jobs is neither a map nor a list"),
        };

        var perPlatform = Commands(matrixJob).Single(c => c.StartsWith("dotnet ", StringComparison.Ordinal));
        StringAssert.Contains(perPlatform, "-t:PublishContainer");
        StringAssert.Contains(perPlatform, $"-r {rid}");
        StringAssert.Contains(perPlatform, $"-p:ContainerImageTag={tag}-{rid}", "per-platform tags follow {tag}-{rid}");

        var stitch = Commands(stitchJob).Single(c => c.StartsWith("dotnet ", StringComparison.Ordinal));
        StringAssert.StartsWith(stitch, "dotnet msbuild ");
        StringAssert.Contains(stitch, "-restore");
        StringAssert.Contains(stitch, "-t:PushContainerManifestList");
        StringAssert.Contains(stitch, $"-p:ContainerImageTags=\"{tag};latest\"");
        StringAssert.Contains(stitch, "-p:ContainerRuntimeIdentifiers=\"linux-x64;linux-arm64\"");
        Assert.IsTrue(((YamlMappingNode)stitchJob).Children.ContainsKey(new YamlScalarNode(dependsKey)), "the stitch job waits for the matrix");

        // Registry and repository are the same in both steps.
        Assert.AreEqual(Property(perPlatform, "ContainerRegistry"), Property(stitch, "ContainerRegistry"));
        Assert.AreEqual(Property(perPlatform, "ContainerRepository"), Property(stitch, "ContainerRepository"));
        AssertNoSecretProperties([perPlatform, stitch]);
    }

    private static string Property(string command, string name) =>
        Regex.Match(command, $@"-p:{name}=(\S+)").Groups[1].Value;

    private static void AssertNoSecretProperties(IEnumerable<string> commands)
    {
        foreach (var command in commands)
        {
            Assert.IsFalse(Regex.IsMatch(command, "(?i)-p:[^ ]*(pass|pword|secret|token)"), $"a secret passed as an MSBuild property is recorded in logs: {command}");
        }
    }

    [GeneratedRegex(@"### (?<title>(GitHub Actions|Azure Pipelines):[^\n]*)\n\n```yaml\n(?<yaml>.*?)```", RegexOptions.Singleline)]
    private static partial Regex RecipeBlock();
}
