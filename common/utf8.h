/*
 * utf8.h — making text that must be UTF-8 so, without losing the rest.
 *
 * jansson refuses a string that is not well-formed UTF-8, and conveyor
 * turns text from outside into JSON in several places: validation
 * problems that quote a name cut inside a character, protobuf strings
 * (protobuf-c does not check proto3's UTF-8 rule) written as facts. One
 * repair serves them all, so that such text is marked rather than lost.
 */
#ifndef CONVEYOR_UTF8_H
#define CONVEYOR_UTF8_H

/* Turns, in place, every byte of text that does not begin a well-formed
 * UTF-8 character (as jansson judges: no overlongs, surrogates or code
 * points past U+10FFFF) into '?'. Well-formed text is left as it is. */
void utf8_repair(char *text);

#endif
