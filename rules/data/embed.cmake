# Turns a rule file into a C array at build time: cmake -DIN=f -DOUT=f.c -P.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN}; do not edit. */\n#include \"rules/spam_rules.h\"\nconst unsigned char spam_default_rules[] = {${body} 0x00};\nconst size_t spam_default_rules_len = ${len};\n")
