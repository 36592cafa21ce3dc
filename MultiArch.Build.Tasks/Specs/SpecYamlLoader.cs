using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>
/// Loads YAML (or JSON) text into <see cref="SpecNode"/>s from YamlDotNet's low-level parser events, and enforces
/// the safety rules of a spec while it reads (docs/manifest-spec.md, "Limits"):
/// <list type="bullet">
/// <item>one document per file;</item>
/// <item>collections nest at most <c>maxDepth</c> levels;</item>
/// <item>the document, with every alias expanded, has at most <c>maxNodes</c> nodes — so anchors and aliases are
/// allowed, but an alias bomb ("billion laughs") stops at the budget instead of exhausting memory or time;</item>
/// <item>an alias must name an anchor defined earlier and already complete (no recursive structures);</item>
/// <item>explicit tags are limited to YAML's core schema (<c>!!str</c>, <c>!!int</c>, <c>!!float</c>, <c>!!bool</c>,
/// <c>!!null</c>, <c>!!map</c>, <c>!!seq</c>); a tag never selects a .NET type, it only has to fit the value.</item>
/// </list>
/// Every error is a MULTIARCH3xxx <see cref="MultiArchException"/> citing file, line and column; so are the
/// exceptions other than <see cref="YamlException"/> that YamlDotNet's scanner throws on some malformed input
/// (aaubry/YamlDotNet#541).
/// </summary>
internal sealed partial class SpecYamlLoader
{
    private const string CoreTagPrefix = "tag:yaml.org,2002:";
    private const string AllowedTags = "!!str, !!int, !!float, !!bool, !!null, !!map and !!seq";

    private readonly string _file;
    private readonly int _maxDepth;
    private readonly int _maxNodes;
    private readonly Parser _parser;
    private readonly Dictionary<string, SpecNode> _anchors = new(StringComparer.Ordinal);
    private readonly Stack<Frame> _open = new();
    private SpecLocation _lastGood;

    private SpecYamlLoader(string text, string file, int maxDepth, int maxNodes)
    {
        _file = file;
        _maxDepth = maxDepth;
        _maxNodes = maxNodes;
        _parser = new Parser(new StringReader(text));
        _lastGood = new SpecLocation(file, 1, 1);
    }

    /// <summary>
    /// Loads the single document of <paramref name="text"/>; null when the text holds no document, or a document
    /// that is only a null (an empty file, a file of comments, a lone <c>---</c>).
    /// </summary>
    public static SpecNode? Load(string text, string file, int maxDepth, int maxNodes) =>
        new SpecYamlLoader(text, file, maxDepth, maxNodes).LoadStream();

    private SpecNode? LoadStream()
    {
        Next(); // StreamStart
        var first = Next();
        if (first is StreamEnd)
        {
            return null;
        }

        // first is DocumentStart: the parser guarantees the order of stream and document events.
        var root = ReadNode(Next());
        Next(); // DocumentEnd
        var after = Next();
        if (after is DocumentStart)
        {
            throw SpecErrors.Invalid(At(after.Start),
                "a second YAML document starts here, but a spec is one document; remove the '---' or '...' line, or split the file");
        }

        return root is SpecScalar { IsNull: true } ? null : root;
    }

    /// <summary>Reads one whole node starting with <paramref name="ev"/>, without recursion.</summary>
    private SpecNode ReadNode(ParsingEvent ev)
    {
        while (true)
        {
            SpecNode? done = null;
            switch (ev)
            {
                case Scalar scalar:
                    done = MakeScalar(scalar);
                    break;
                case MappingStart mapping:
                    Open(mapping, isMapping: true);
                    break;
                case SequenceStart sequence:
                    Open(sequence, isMapping: false);
                    break;
                case MappingEnd or SequenceEnd:
                    done = Close();
                    break;
                case AnchorAlias alias:
                    done = Resolve(alias);
                    break;
                default:
                    throw SpecErrors.Syntax(At(ev.Start), $"unexpected YAML event {ev.GetType().Name}");
            }

            if (done is not null)
            {
                if (_open.Count == 0)
                {
                    return done;
                }

                Add(_open.Peek(), done, At(ev.Start));
            }

            ev = Next();
        }
    }

    private ParsingEvent Next()
    {
        try
        {
            if (!_parser.MoveNext() || _parser.Current is null)
            {
                throw SpecErrors.Syntax(_lastGood, "the YAML ends unexpectedly");
            }
        }
        catch (YamlException ex)
        {
            throw SpecErrors.Syntax(At(ex.Start, _lastGood), ex, ex.Message);
        }
        catch (Exception ex) when (ex is not MultiArchException and not OutOfMemoryException)
        {
            // YamlDotNet's scanner throws bare exceptions on some malformed input (for example a flow sequence
            // that is not closed before a line with a ':'); the last good event is the best position we have.
            throw SpecErrors.Syntax(_lastGood, ex,
                $"the YAML cannot be parsed after this point ({ex.GetType().Name}: {ex.Message}); check for an unclosed '[', '{{' or quote");
        }

        var ev = _parser.Current;
        _lastGood = At(ev.End, _lastGood);
        return ev;
    }

    private SpecScalar MakeScalar(Scalar scalar)
    {
        var location = At(scalar.Start);
        var isNull = false;
        if (scalar.Tag.IsEmpty)
        {
            isNull = scalar.Style == ScalarStyle.Plain && IsNullText(scalar.Value);
        }
        else
        {
            var type = CoreType(scalar, location);
            var fits = type switch
            {
                "str" => true,
                "null" => IsNullText(scalar.Value),
                "bool" => BoolPattern().IsMatch(scalar.Value),
                "int" => IntPattern().IsMatch(scalar.Value),
                "float" => FloatPattern().IsMatch(scalar.Value),
                _ => false,
            };
            if (!fits)
            {
                throw SpecErrors.Invalid(location,
                    $"'{SpecErrors.Display(scalar.Value)}' is not a valid !!{type} value; remove the tag or fix the value");
            }

            isNull = type == "null";
        }

        var node = new SpecScalar(location, scalar.Value, isNull);
        Remember(scalar, node);
        return node;
    }

    private void Open(NodeEvent ev, bool isMapping)
    {
        var location = At(ev.Start);
        if (!ev.Tag.IsEmpty)
        {
            var type = CoreType(ev, location);
            if (type != (isMapping ? "map" : "seq"))
            {
                throw SpecErrors.Invalid(location,
                    $"the tag '!!{type}' does not fit {(isMapping ? "a mapping" : "a sequence")}; remove the tag");
            }
        }

        if (_open.Count >= _maxDepth)
        {
            throw SpecErrors.TooLarge(location,
                $"mappings and sequences nest more than {_maxDepth} levels deep here; a spec needs at most 5");
        }

        _open.Push(new Frame(location, isMapping, ev.Anchor.IsEmpty ? null : ev.Anchor.Value));
    }

    private SpecNode Close()
    {
        var frame = _open.Pop();
        SpecNode node;
        if (frame.IsMapping)
        {
            var entries = new List<KeyValuePair<SpecNode, SpecNode>>(frame.Items.Count / 2);
            for (var i = 0; i + 1 < frame.Items.Count; i += 2)
            {
                entries.Add(new KeyValuePair<SpecNode, SpecNode>(frame.Items[i], frame.Items[i + 1]));
            }

            node = new SpecMapping(frame.Location, entries, frame.Weight);
        }
        else
        {
            node = new SpecSequence(frame.Location, frame.Items, frame.Weight);
        }

        if (frame.Anchor is not null)
        {
            _anchors[frame.Anchor] = node;
        }

        return node;
    }

    private SpecNode Resolve(AnchorAlias alias)
    {
        var name = alias.Value.Value;
        if (_open.Any(f => f.Anchor == name))
        {
            throw SpecErrors.Syntax(At(alias.Start),
                $"the alias '*{SpecErrors.Display(name)}' refers to a node that contains it; recursive structures are not supported");
        }

        return _anchors.TryGetValue(name, out var node)
            ? node
            : throw SpecErrors.Syntax(At(alias.Start),
                $"the alias '*{SpecErrors.Display(name)}' refers to no anchor defined before it; define '&{SpecErrors.Display(name)}' first");
    }

    private void Add(Frame frame, SpecNode node, SpecLocation at)
    {
        frame.Items.Add(node);
        frame.Weight += node.Weight;
        if (frame.Weight > _maxNodes)
        {
            throw SpecErrors.TooLarge(at,
                $"the document has more than {_maxNodes} nodes (an alias counts as a copy of what it refers to)");
        }
    }

    private void Remember(NodeEvent ev, SpecNode node)
    {
        if (!ev.Anchor.IsEmpty)
        {
            _anchors[ev.Anchor.Value] = node;
        }
    }

    /// <summary>The core-schema type a tag names (<c>str</c>, <c>map</c>, ...); any other tag is an error.</summary>
    private string CoreType(NodeEvent ev, SpecLocation location)
    {
        var tag = ev.Tag.Value;
        if (tag.StartsWith(CoreTagPrefix, StringComparison.Ordinal))
        {
            var type = tag[CoreTagPrefix.Length..];
            var allowed = ev is Scalar ? type is "str" or "int" or "float" or "bool" or "null" : type is "map" or "seq";
            if (allowed)
            {
                return type;
            }

            if (type is "map" or "seq" or "str" or "int" or "float" or "bool" or "null")
            {
                throw SpecErrors.Invalid(location,
                    $"the tag '!!{type}' does not fit {(ev is Scalar ? "a scalar" : ev is MappingStart ? "a mapping" : "a sequence")}; remove the tag");
            }
        }

        var shown = tag.StartsWith(CoreTagPrefix, StringComparison.Ordinal) ? "!!" + tag[CoreTagPrefix.Length..] : tag;
        throw SpecErrors.Invalid(location,
            $"the tag '{SpecErrors.Display(shown)}' is not allowed: a spec holds plain values only, and the only tags it accepts are {AllowedTags}");
    }

    private SpecLocation At(Mark mark) => At(mark, _lastGood);

    private SpecLocation At(Mark mark, SpecLocation fallback) =>
        mark.Line >= 1 && mark.Column >= 1 && mark.Line <= int.MaxValue && mark.Column <= int.MaxValue
            ? new SpecLocation(_file, (int)mark.Line, (int)mark.Column)
            : fallback;

    private static bool IsNullText(string value) => value is "" or "~" or "null" or "Null" or "NULL";

    // YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
    [GeneratedRegex(@"^(true|True|TRUE|false|False|FALSE)\z", RegexOptions.CultureInvariant)]
    private static partial Regex BoolPattern();

    [GeneratedRegex(@"^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\z", RegexOptions.CultureInvariant)]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))\z", RegexOptions.CultureInvariant)]
    private static partial Regex FloatPattern();

    private sealed class Frame
    {
        public Frame(SpecLocation location, bool isMapping, string? anchor)
        {
            Location = location;
            IsMapping = isMapping;
            Anchor = anchor;
        }

        public SpecLocation Location { get; }

        public bool IsMapping { get; }

        public string? Anchor { get; }

        public List<SpecNode> Items { get; } = [];

        /// <summary>1 for the collection itself plus the expanded weight of every item so far.</summary>
        public int Weight { get; set; } = 1;
    }
}
